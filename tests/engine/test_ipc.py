"""The RPC channel between runyard processes: frames read many at a time, in order, large frames whole."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import msgspec
import pytest

from runyard import ipc
from runyard.ipc import Channel, ChannelClosed, decode


async def pair(on_call: Any = None, on_notice: Any = None) -> tuple[Channel, Channel]:
    a, b = socket.socketpair()
    server = await Channel.over(a, on_call=on_call)
    client = await Channel.over(b, on_notice=on_notice)
    return server, client


async def test_many_calls_at_once_each_get_their_own_answer() -> None:
    async def echo(op: str, raw: msgspec.Raw) -> Any:
        value = decode(raw, int)
        await asyncio.sleep(0.001 * (value % 3))  # answered out of order
        return [op, value * 2]

    server, client = await pair(on_call=echo)
    serving = [asyncio.create_task(server.serve()), asyncio.create_task(client.serve())]
    try:
        answers = await asyncio.gather(*[client.call(f"op{i}", i) for i in range(2000)])
        assert [decode(a, list) for a in answers] == [[f"op{i}", i * 2] for i in range(2000)]
    finally:
        server.close()
        client.close()
        await asyncio.gather(*serving)


async def test_large_frames_arrive_whole_and_notices_in_order() -> None:
    seen: list[tuple[str, Any]] = []
    server, client = await pair(on_notice=lambda kind, raw: seen.append((kind, decode(raw, Any))))

    async def big(op: str, raw: msgspec.Raw) -> Any:
        return len(decode(raw, bytes))

    server.on_call = big
    serving = [asyncio.create_task(server.serve()), asyncio.create_task(client.serve())]
    try:
        blob = bytes(range(256)) * 4099  # about 1 MB: many reads of the socket
        for i in range(50):
            server.notify("tick", i)
        assert decode(await client.call("big", blob), int) == len(blob)
        for i in range(50, 100):
            server.notify("tick", i)
        await asyncio.sleep(0.05)
        assert seen == [("tick", i) for i in range(100)]
    finally:
        server.close()
        client.close()
        await asyncio.gather(*serving)


async def test_an_oversized_frame_or_a_lost_peer_ends_the_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    server, client = await pair(on_call=lambda op, raw: asyncio.sleep(0))
    serving = asyncio.create_task(server.serve())
    client_serving = asyncio.create_task(client.serve())
    monkeypatch.setattr(ipc, "MAX_FRAME", 64)
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(client.call("op", b"x" * 1000), 5)  # the server refuses it and hangs up
    with pytest.raises(ValueError, match="larger than"):
        await serving
    await client_serving
    assert server.closed.is_set() and client.closed.is_set()
