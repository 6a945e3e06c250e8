"""The HTTP server's protection against slow and broken clients.

uvicorn closes an idle keep-alive connection, but a client that connects and never finishes its headers, or
declares a body longer than it sends, holds its connection (and, for the body, a request task) forever. The
protocol below arms one timer per connection: the headers must arrive within `header_timeout`, and a body
must keep arriving, at least one piece every `body_timeout`. A client that misses either is cut off with one
line in the log. `max_connections` caps open connections (uvicorn answers 503 past it). A response leaves in one write
(`OneWrite`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("runyard.http")


class OneWrite:
    """The transport a request's response is written to. uvicorn writes a response's head and its body in two
    calls, each a system call; here a head that declares a content-length waits for the body's first piece and
    leaves with it, in one. Anything else (an interim `100 Continue`, the head of a streamed response) is
    written at once."""

    __slots__ = ("_head", "_started", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._head: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self.transport.write(head + data)
        elif not self._started and not data.startswith(b"HTTP/1.1 1"):  # the head, not an interim response
            self._started = True
            if b"\r\ncontent-length: " in data:
                self._head = data
            else:
                self.transport.write(data)
        else:
            self.transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self.transport.write(head)
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class GuardedHttpProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, why: str) -> None:
        self._disarm()
        self._guard = self.loop.call_later(seconds, self._cut, why, seconds)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None

    def _cut(self, why: str, seconds: float) -> None:
        self._guard = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("cut off %s: %s within %g s", client, why, seconds)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, "no complete request headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout, "no complete request headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is None:
            self._disarm()
            return
        if self.scope["method"] != "HEAD":  # (a HEAD response has no body to wait for)
            self.cycle.transport = OneWrite(self.transport)  # type: ignore[assignment]
        if self.cycle.more_body:
            self._arm(self.body_timeout, "no more of the request body")
        else:
            self._disarm()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self.body_timeout, "no more of the request body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol(header_timeout: float, body_timeout: float) -> type[GuardedHttpProtocol]:
    """The protocol class with these timeouts (uvicorn instantiates it once per connection)."""
    attrs = {"header_timeout": header_timeout, "body_timeout": body_timeout}
    return type("RunyardHttpProtocol", (GuardedHttpProtocol,), attrs)
