"""Server-sent events: frames, and a response that streams a run-event subscription with pings.

A stream resumes from `Last-Event-ID` (or `?lastEventId=`); every event frame carries its `id:` (pings carry
the last id sent, so a reconnect after a quiet spell resumes at the right place).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import StreamingResponse

from runyard.api.common import ApiError, ProblemDetail
from runyard.models import LogLine, Run
from runyard.run_events import Gap, RunEvent, RunEventLog
from runyard.service import Service

PING_S = 15.0
# New log lines wake a reader at once (workers say when they stored lines of a run, and run events too); this
# fallback look is for writers that cannot tell this process (a worker that reaches the database directly).
LOG_FALLBACK_S = 2.0
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(event: str, data: bytes, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\n".encode() + b"data: " + data + b"\n\n"


def resume_point(request: Request) -> int | None:
    """The id to resume after: `Last-Event-ID`, else `?lastEventId=`; None for a fresh stream."""
    raw = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        location = "header.Last-Event-ID" if request.headers.get("last-event-id") else "query.lastEventId"
        raise ApiError(
            422, "validation failed", [ProblemDetail(location=location, message="not an event id", value=raw)]
        )
    return int(raw)


def stream(frames: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream", headers=HEADERS)


async def event_frames(
    log: RunEventLog, after: int | None, render: Callable[[RunEvent], tuple[str, bytes]], gap: Callable[[Gap], bytes]
) -> AsyncIterator[bytes]:
    """The frames of a run-event stream: replayed and live events, a `gap` frame where events were lost, and a
    `ping` every PING_S seconds of quiet."""
    subscription = log.subscribe(after)
    try:
        yield b": runyard event stream\n\n"
        while True:
            try:
                item = await subscription.get(PING_S)
            except EOFError:
                return  # the client fell too far behind: it reconnects and resumes from its last id
            if item is None:
                yield frame("ping", b"{}", subscription.last_id)
            elif isinstance(item, Gap):
                yield gap(item)
            else:
                name, data = render(item)
                yield frame(name, data, item.id)
    finally:
        subscription.close()


async def log_lines(service: Service, run: Run, after: int = 0) -> AsyncIterator[LogLine]:
    """A run's log lines after line `after` as they are written, ending once the run has ended and every
    line is out. Notices of stored lines and the run's events wake the reader at once (no polling); without
    any it looks again every LOG_FALLBACK_S."""
    changed = asyncio.Event()
    unsubscribe = service.events.subscribe(lambda _kind, r: changed.set() if r.id == run.id else None)
    unsubscribe_logs = service.events.on_logs(lambda run_id: changed.set() if run_id == run.id else None)
    try:
        while True:
            changed.clear()
            lines = await service.logs(run.id, after_seq=after, limit=1000)
            for line in lines:
                yield line
                after = line.seq
            if lines:
                continue
            if (await service.get_run(run.id)).is_final:
                if not await service.logs(run.id, after_seq=after, limit=1):
                    return  # no line was flushed as it ended
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LOG_FALLBACK_S):
                    await changed.wait()
    finally:
        unsubscribe()
        unsubscribe_logs()
