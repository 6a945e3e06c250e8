"""Native live streams: `GET /v1/events/stream` (every run event: `run.created`, `run.started`, `run.updated`,
`run.completed`, `run.failed`, `run.canceled`, `run.deleted`, with the run; resumable) and
`GET /v1/runs/{id}/logs/stream` (`line` frames as they are written, then `done`). The CLI follows these."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.common import INT64_MAX, ApiError, Endpoint, parse_int
from runyard.api.native import NativeLogLine, NativeRun, render_run
from runyard.api.sse import event_frames, frame, log_lines, resume_point, stream
from runyard.errors import NotFoundError
from runyard.ids import is_ulid, us_to_rfc3339
from runyard.models import Run
from runyard.run_events import Gap, RunEvent
from runyard.service import Service

_encode = msgspec.json.encode


class EventData(msgspec.Struct, kw_only=True):
    run: NativeRun


class GapData(msgspec.Struct, kw_only=True):
    message: str
    last_id: int


class LogDone(msgspec.Struct, kw_only=True):
    last_seq: int
    status: str


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def events_stream(request: Request) -> Response:
    after = resume_point(request)

    def render(event: RunEvent) -> tuple[str, bytes]:
        return f"run.{event.kind.value}", _encode(EventData(run=render_run(event.run)))

    def gap(lost: Gap) -> bytes:
        message = f"events after {lost.last_id} are no longer kept: list the runs again"
        return frame("gap", _encode(GapData(message=message, last_id=lost.last_id)), lost.last_id)

    return stream(event_frames(_service(request).events.runs, after, render, gap))


async def logs_stream(request: Request) -> Response:
    run_id = str(request.path_params["id"])
    service = _service(request)
    try:
        after = parse_int(request.query_params.get("after", "0"), 0, INT64_MAX)
    except ValueError as exc:
        raise ApiError(422, f"after: {exc}") from None
    if not is_ulid(run_id):
        raise ApiError(404, "run not found")
    try:
        run = await service.get_run(run_id)
    except NotFoundError:
        raise ApiError(404, "run not found") from None
    return stream(_log_frames(service, run, after))


async def _log_frames(service: Service, run: Run, after: int) -> AsyncIterator[bytes]:
    last = after
    async for ln in log_lines(service, run, after):
        line = NativeLogLine(seq=ln.seq, attempt=ln.attempt, stream=ln.stream, ts=us_to_rfc3339(ln.ts), text=ln.text)
        yield frame("line", _encode(line), ln.seq)
        last = ln.seq
    final = await service.get_run(run.id)
    yield frame("done", _encode(LogDone(last_seq=last, status=final.status.value)))


ENDPOINTS = [
    Endpoint("GET", "/v1/events/stream", events_stream, "Run events (SSE; resume with Last-Event-ID or "
             "?lastEventId=)", "native", content_type="text/event-stream",
             query={"lastEventId": "resume after this event id"}),
    Endpoint("GET", "/v1/runs/{id}/logs/stream", logs_stream, "A run's log as it is written (SSE: line ... done)",
             "native", content_type="text/event-stream", query={"after": "last line seen"}),
]  # fmt: skip
