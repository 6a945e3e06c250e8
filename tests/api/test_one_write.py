"""A response leaves in one write: `serving.OneWrite` holds a head that declares a content-length until the body's
first piece; interim responses, HEAD responses and streamed heads go at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from runyard.serving import OneWrite
from tests.conftest import free_port, wait_healthy

API_KEY = "ry_one_write_key_0123456789abcdef"


class Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def one_write(recorder: Recorder) -> OneWrite:
    return OneWrite(recorder)  # type: ignore[arg-type]


def test_a_head_with_a_content_length_leaves_with_the_body() -> None:
    rec = Recorder()
    out = one_write(rec)
    out.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n")
    assert rec.writes == []
    out.write(b"{}")
    out.write(b"")
    assert rec.writes == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}", b""]


def test_interim_and_streamed_heads_go_at_once() -> None:
    rec = Recorder()
    out = one_write(rec)
    out.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert rec.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    out.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
    assert len(rec.writes) == 2
    chunk = b"1a\r\ndata: \r\ncontent-length: 9\r\n\r\n"  # a body piece that looks like a header is still a body
    out.write(chunk)
    assert rec.writes[-1] == chunk


def test_closing_sends_a_head_still_held() -> None:
    rec = Recorder()
    out = one_write(rec)
    out.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
    out.close()
    assert rec.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"] and rec.closed


async def _exchange(port: int) -> tuple[bytes, bytes, bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")  # a HEAD response has no body to wait for
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection serves on
        got = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        length = int(next(h for h in got.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1])
        body = await asyncio.wait_for(reader.readexactly(length), 3)
        writer.write(
            b"POST /api/tasks/hello/run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + API_KEY.encode()
            + b"\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
        )  # fmt: skip
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        writer.write(b"{}")
        created = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        return head, body, interim, created
    finally:
        writer.close()


def test_over_a_socket_head_continue_and_keep_alive_work(tmp_path: Path) -> None:
    (tmp_path / "runyard.toml").write_text("[tasks.hello]\nnoop = true\n")
    port = free_port()
    env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp_path / "data")}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "runyard"), "server", "--config", str(tmp_path / "runyard.toml"),
         "--listen", f"127.0.0.1:{port}", "--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "--processes", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        head, body, interim, created = asyncio.run(_exchange(port))
        assert head.startswith(b"HTTP/1.1 200") and b"content-length" in head.lower()
        assert body.startswith(b"{")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert created.startswith(b"HTTP/1.1 201")
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
