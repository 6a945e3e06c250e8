"""A small RPC channel between runyard processes on one machine: msgpack frames over a stream socket.

Each frame is a 4-byte big-endian length and one msgpack message: a `Call` (a named operation with its
arguments, answered by a `Reply` with the same id) or a `Notice` (one-way: wake-ups, cancels, run events).
Either side may call and notify; calls are answered concurrently and out of order, so many requests in
flight from many processes end up in the same group commit of the store they reach. Frames sent during one
turn of the event loop leave in one write (one system call), however many there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

log = logging.getLogger("runyard.ipc")
T = TypeVar("T")
HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024  # larger than any payload or log batch the store accepts


class Call(msgspec.Struct, tag="call", array_like=True):
    id: int
    op: str
    args: msgspec.Raw


class Reply(msgspec.Struct, tag="reply", array_like=True):
    id: int
    value: msgspec.Raw
    error: str | None = None


class Notice(msgspec.Struct, tag="notice", array_like=True):
    kind: str
    body: msgspec.Raw


Message = Call | Reply | Notice
CallHandler = Callable[[str, msgspec.Raw], Awaitable[Any]]
NoticeHandler = Callable[[str, msgspec.Raw], None]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)


class RemoteError(Exception):
    """The other side's operation raised; the message says what."""


class ChannelClosed(ConnectionError):
    pass


def encode(value: Any) -> msgspec.Raw:
    return msgspec.Raw(_encoder.encode(value))


def decode(raw: msgspec.Raw | bytes, type_: type[T]) -> T:
    return msgspec.msgpack.decode(raw, type=type_)


class Channel:
    """One connection. `serve()` reads until the peer goes away; `call()` and `notify()` may be used meanwhile."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_call: CallHandler | None = None,
        on_notice: NoticeHandler | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.on_call = on_call
        self.on_notice = on_notice
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[msgspec.Raw]] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._outbox: list[bytes] = []  # frames waiting for the end of this loop turn
        self.closed = asyncio.Event()

    @classmethod
    async def connect(cls, path: str, **kw: Any) -> Channel:
        reader, writer = await asyncio.open_unix_connection(path, limit=2**20)
        return cls(reader, writer, **kw)

    @classmethod
    async def over(cls, sock: Any, **kw: Any) -> Channel:
        """A channel over an already connected socket (one end of a socketpair)."""
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=2**20)
        return cls(reader, writer, **kw)

    def _send(self, message: Message) -> None:
        if self.closed.is_set():
            raise ChannelClosed("the channel is closed")
        body = _encoder.encode(message)
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox += (HEADER.pack(len(body)), body)

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        if not self.closed.is_set():
            self._writer.write(b"".join(frames))

    async def call(self, op: str, args: Any) -> msgspec.Raw:
        self._next_id += 1
        call_id = self._next_id
        future: asyncio.Future[msgspec.Raw] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            self._send(Call(call_id, op, encode(args)))
            return await future
        finally:
            self._pending.pop(call_id, None)

    def notify(self, kind: str, body: Any = None) -> bool:
        """Send a one-way notice; False if the channel is already closed."""
        try:
            self._send(Notice(kind, encode(body)))
        except (ChannelClosed, RuntimeError):
            return False
        return True

    async def serve(self) -> None:
        try:
            while True:
                header = await self._reader.readexactly(HEADER.size)
                (size,) = HEADER.unpack(header)
                if size > MAX_FRAME:
                    raise ValueError(f"frame of {size} bytes is larger than {MAX_FRAME}")
                message = _decoder.decode(await self._reader.readexactly(size))
                if isinstance(message, Reply):
                    self._settle(message)
                elif isinstance(message, Notice):
                    if self.on_notice is not None:
                        self.on_notice(message.kind, message.body)
                else:
                    task = asyncio.create_task(self._answer(message))
                    self._handlers.add(task)
                    task.add_done_callback(self._handlers.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the peer went away
        finally:
            self.close()

    def _settle(self, reply: Reply) -> None:
        future = self._pending.get(reply.id)
        if future is None or future.done():
            return
        if reply.error is not None:
            future.set_exception(RemoteError(reply.error))
        else:
            future.set_result(reply.value)

    async def _answer(self, call: Call) -> None:
        try:
            if self.on_call is None:
                raise RemoteError("this side answers no calls")
            reply = Reply(call.id, encode(await self.on_call(call.op, call.args)))
        except Exception as exc:
            if not isinstance(exc, RemoteError):
                log.exception("operation %s failed", call.op)
            reply = Reply(call.id, encode(None), f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(ChannelClosed, RuntimeError):
            self._send(reply)

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ChannelClosed("the other process went away"))
        self._pending.clear()
        with contextlib.suppress(Exception):
            self._writer.close()
