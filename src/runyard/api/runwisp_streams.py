"""RunWisp's live streams: `GET /api/events/stream` (the run event feed) and `GET /api/runs/{runId}/log/stream`
(a run's log lines while it executes, then `done`), as server-sent events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.common import ApiError, Endpoint
from runyard.api.runwisp import RunWispLogLine, RunWispRun, render_run
from runyard.api.sse import event_frames, frame, log_lines, resume_point, stream
from runyard.errors import NotFoundError
from runyard.ids import is_ulid
from runyard.models import EndReason, Run
from runyard.run_events import Gap, RunEvent, RunEventKind
from runyard.service import Service

_encode = msgspec.json.encode
NAMES = {
    RunEventKind.CREATED: "run.created", RunEventKind.STARTED: "run.started", RunEventKind.UPDATED: "run.updated",
    RunEventKind.COMPLETED: "run.completed", RunEventKind.FAILED: "run.failed", RunEventKind.DELETED: "run.deleted",
}  # fmt: skip
FAILED_WITHOUT_RUNNING = (EndReason.SKIPPED, EndReason.QUEUE_FULL)


class RunEventData(msgspec.Struct, kw_only=True):
    run: RunWispRun


class SystemData(msgspec.Struct, kw_only=True):
    message: str


class LogDone(msgspec.Struct, kw_only=True):
    finalLine: int
    status: str


def event_name(event: RunEvent) -> str:
    """RunWisp's name: run.completed for a success, run.failed for failed, queue_full and skipped runs; a
    stopped run is run.updated."""
    if event.kind is RunEventKind.CANCELED:
        return "run.failed" if event.run.end_reason in FAILED_WITHOUT_RUNNING else "run.updated"
    return NAMES[event.kind]


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def events_stream(request: Request) -> Response:
    after = resume_point(request)
    service = _service(request)

    def render(event: RunEvent) -> tuple[str, bytes]:
        return event_name(event), _encode(RunEventData(run=render_run(event.run)))

    def gap(lost: Gap) -> bytes:
        message = f"events after {lost.last_id} are no longer kept: reload the runs"
        return frame("system", _encode(SystemData(message=message)), lost.last_id)

    return stream(event_frames(service.events.runs, after, render, gap))


async def log_stream(request: Request) -> Response:
    run_id = str(request.path_params["runId"])
    service = _service(request)
    try:
        run = await service.get_run(run_id) if is_ulid(run_id) else None
    except NotFoundError:
        run = None
    if run is None:
        raise ApiError(404, "record not found")
    return stream(_log_frames(service, run))


async def _log_frames(service: Service, run: Run) -> AsyncIterator[bytes]:
    last = 0
    async for ln in log_lines(service, run):
        yield frame("line", _encode(RunWispLogLine(n=ln.seq, ts=ln.ts * 1000, stream=ln.stream, text=ln.text)))
        last = ln.seq
    yield frame("done", _encode(LogDone(finalLine=last, status="ended")))


ENDPOINTS = [
    Endpoint("GET", "/api/events/stream", events_stream, "Run events (SSE: run.created, run.started, run.updated, "
             "run.completed, run.failed, ping; resume with Last-Event-ID or ?lastEventId=)", "runwisp",
             content_type="text/event-stream", query={"lastEventId": "resume after this event id"}),
    Endpoint("GET", "/api/runs/{runId}/log/stream", log_stream, "A run's log as it is written (SSE: line ... done)",
             "runwisp", content_type="text/event-stream"),
]  # fmt: skip
