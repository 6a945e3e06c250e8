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
from typing import TYPE_CHECKING, Any, cast

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

if TYPE_CHECKING:  # (the worker processes import this module without the web application)
    from runyard.api.routing import DirectRoutes, HotRoute

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


Taken = tuple["HotRoute", dict[str, str]]


class GuardedHttpProtocol(HttpToolsProtocol):
    header_timeout = 10.0
    body_timeout = 30.0
    direct: DirectRoutes | None = None  # the routes this protocol serves itself, without the ASGI cycle

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One timer per connection, moved lazily: arming sets a deadline, and the timer, when it fires early,
        # sets itself again for the deadline (every request arms and disarms twice; a timer each was a fiftieth
        # of a trigger's server time).
        self._guard: asyncio.TimerHandle | None = None
        self._guard_at = 0.0
        self._deadline: float | None = None
        self._why = ""
        self._seconds = 0.0
        self._held: tuple[RequestResponseCycle, Taken] | None = None  # a direct request waiting for its body

    def _arm(self, seconds: float, why: str) -> None:
        self._deadline = deadline = self.loop.time() + seconds
        self._why, self._seconds = why, seconds
        if self._guard is not None and self._guard_at <= deadline:
            return  # it fires first, and sets itself again
        if self._guard is not None:
            self._guard.cancel()
        self._guard, self._guard_at = self.loop.call_at(deadline, self._check), deadline

    def _disarm(self) -> None:
        self._deadline = None

    def _check(self) -> None:
        self._guard = None
        if self._deadline is None:
            return
        if self.loop.time() < self._deadline:
            self._guard, self._guard_at = self.loop.call_at(self._deadline, self._check), self._deadline
            return
        self._deadline = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("cut off %s: %s within %g s", client, self._why, self._seconds)
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
        held = self._held
        if held is not None and not held[0].more_body:
            self._held = None
            self._serve_direct(*held)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None
        self._held = None
        super().connection_lost(exc)

    # -- the direct routes ---------------------------------------------------------------------------
    # uvicorn starts a request's ASGI task when its headers are in (or, pipelined, when the one before it has
    # been answered). A request the direct routes take waits for its whole body instead (its length is
    # declared and small), is served by its handler, and is answered in one write; then the connection goes
    # on as after any response (keep-alive timer, the next pipelined request, or closing).

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        taken = None
        if self.direct is not None and app is self.app and not cycle.waiting_for_100_continue:
            taken = self.direct.take(cast(Scope, cycle.scope))
        if taken is None:
            super()._start_asgi_task(cycle, app)
        elif cycle.more_body:
            self._held = (cycle, taken)
        else:
            self._serve_direct(cycle, taken)

    def _serve_direct(self, cycle: RequestResponseCycle, taken: Taken) -> None:
        task = self.loop.create_task(self._direct(cycle, taken))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    async def _direct(self, cycle: RequestResponseCycle, taken: Taken) -> None:
        assert self.direct is not None
        body, cycle.body = bytes(cycle.body), bytearray()
        response = await self.direct.serve(cast(Scope, cycle.scope), body, *taken)
        if cycle.disconnected:
            return
        status = response.status_code
        if cycle.access_log:
            scope = cycle.scope
            cycle.access_logger.info(
                '%s - "%s %s HTTP/%s" %d', get_client_addr(scope), scope["method"],
                get_path_with_query_string(scope), scope["http_version"], status,
            )  # fmt: skip
        content = [STATUS_LINE[status]]
        for name, value in cycle.default_headers:
            content += (name, b": ", value, b"\r\n")
        says_close = False
        for name, value in response.raw_headers:
            content += (name, b": ", value, b"\r\n")
            if name == b"connection" and b"close" in value.lower():
                cycle.keep_alive, says_close = False, True
        if not cycle.keep_alive and not says_close:
            content.append(b"connection: close\r\n")
        content += (b"\r\n", bytes(response.body))
        cycle.response_started = cycle.response_complete = True
        self.transport.write(b"".join(content))
        if not cycle.keep_alive:
            self.transport.close()
        cycle.on_response()


def protocol(
    header_timeout: float, body_timeout: float, direct: DirectRoutes | None = None
) -> type[GuardedHttpProtocol]:
    """The protocol class with these timeouts and direct routes (uvicorn makes one per connection)."""
    attrs = {"header_timeout": header_timeout, "body_timeout": body_timeout, "direct": direct}
    return type("RunyardHttpProtocol", (GuardedHttpProtocol,), attrs)
