"""runyard's own JSON API under /v1 (used by the CLI and runyard.Client)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api import native_schedules
from runyard.api.common import (
    INT64_MAX,
    ApiError,
    Endpoint,
    Problem,
    ProblemDetail,
    csv_schema,
    decode_body,
    int_schema,
    json_response,
    parse_int,
    problem,
    read_body,
)
from runyard.api.dialect import Dialect
from runyard.durations import parse_due_us, parse_duration
from runyard.ids import is_ulid, now_us, us_to_rfc3339
from runyard.models import Attempt, Run, RunStatus
from runyard.records import ListRunsParams
from runyard.service import Service, TriggerRequest

MAX_TAGS = 32
STATUSES = {status: status.value for status in RunStatus}  # the engine's own words
MAX_TAG_LENGTH = 128


class NativeAttempt(msgspec.Struct, kw_only=True, omit_defaults=True):
    number: int
    status: str
    worker_id: str
    started_at: str
    ended_at: str | None = None
    error: dict[str, Any] | None = None
    exit_code: int | None = None


class NativeRun(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    task: str
    status: str
    queue: str
    payload: msgspec.Raw
    payload_type: str
    output: msgspec.Raw | None = None
    error: dict[str, Any] | None = None
    tags: list[str]
    metadata: dict[str, Any] | None = None
    concurrency_key: str | None = None
    idempotency_key: str | None = None
    priority: int
    attempt_count: int
    max_attempts: int
    triggered_by: str
    replay_of: str | None = None
    retry_of: str | None = None  # the failed run this one retries (tasks that retry as new runs)
    created_at: str
    updated_at: str
    started_at: str | None = None
    ended_at: str | None = None
    delayed_until: str | None = None
    expires_at: str | None = None
    exit_code: int | None = None
    end_reason: str | None = None
    attempts: list[NativeAttempt] | None = None
    waiting: str | None = None  # why a run that has not started waits (detail view only)


class TriggerBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    payload: Any = None
    tags: list[str] = []
    metadata: dict[str, Any] | None = None
    queue: str | None = None
    concurrency_key: str = ""
    idempotency_key: str | None = None
    idempotency_ttl: str | float | None = None
    delay: str | float | None = None
    ttl: str | float | None = None
    priority: int = 0
    max_attempts: int | None = None
    max_duration: str | float | None = None


class TriggerResult(msgspec.Struct, kw_only=True):
    run: NativeRun
    cached: bool


class RunsPage(msgspec.Struct, kw_only=True):
    runs: list[NativeRun]
    next_cursor: str | None
    prev_cursor: str | None


class NativeTask(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    kind: str
    queue: str
    concurrency_limit: int | None = None
    max_attempts: int
    timeout_s: float | None = None
    description: str = ""


class TaskList(msgspec.Struct, kw_only=True):
    tasks: list[NativeTask]


class NativeLogLine(msgspec.Struct, kw_only=True):
    seq: int
    attempt: int
    stream: str
    ts: str
    text: str


class LogPage(msgspec.Struct, kw_only=True):
    lines: list[NativeLogLine]
    next_after: int
    finished: bool
    truncated: bool = False  # lines were dropped at the per-run log cap (a system line says where)


class NativeQueue(msgspec.Struct, kw_only=True):
    name: str
    concurrency_limit: int | None
    paused: bool


class QueueList(msgspec.Struct, kw_only=True):
    queues: list[NativeQueue]


class Health(msgspec.Struct, kw_only=True):
    status: str


def _iso(us: int | None) -> str | None:
    return us_to_rfc3339(us) if us else None


def render_run(run: Run, attempts: list[Attempt] | None = None) -> NativeRun:
    return NativeRun(
        id=run.id, task=run.task, status=STATUSES[run.status], queue=run.queue, payload=msgspec.Raw(run.payload),
        payload_type=run.payload_type, output=msgspec.Raw(run.output) if run.output is not None else None,
        error=run.error, tags=run.tags, metadata=run.metadata, concurrency_key=run.concurrency_key or None,
        idempotency_key=run.idempotency_key, priority=run.priority, attempt_count=run.attempt_count,
        max_attempts=run.max_attempts, triggered_by=run.triggered_by.value, replay_of=run.replay_of,
        retry_of=run.retry_of,
        created_at=us_to_rfc3339(run.created_at), updated_at=us_to_rfc3339(run.updated_at),
        started_at=_iso(run.started_at), ended_at=_iso(run.ended_at), delayed_until=_iso(run.delayed_until),
        expires_at=_iso(run.expires_at), exit_code=run.exit_code,
        end_reason=run.end_reason.value if run.end_reason else None,
        attempts=None if attempts is None else [
            NativeAttempt(number=a.number, status=a.status.value, worker_id=a.worker_id,
                          started_at=us_to_rfc3339(a.started_at), ended_at=_iso(a.ended_at), error=a.error,
                          exit_code=a.exit_code)
            for a in attempts
        ],
    )  # fmt: skip


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _run_id(request: Request) -> str:
    run_id = str(request.path_params["id"]).upper()
    if not is_ulid(run_id):
        raise ApiError(404, "run not found")
    return run_id


def _seconds(name: str, value: str | float | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ApiError(422, f"{name}: {exc}", [ProblemDetail(location=f"body.{name}", message=str(exc))]) from None


def _delay_until(value: str | float | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_due_us(value, now_us())
    except ValueError as exc:
        raise ApiError(422, f"delay: {exc}", [ProblemDetail(location="body.delay", message=str(exc))]) from None


async def trigger(request: Request) -> Response:
    body: TriggerBody = decode_body(await read_body(request), TriggerBody)
    if len(body.tags) > MAX_TAGS or any(not t or len(t) > MAX_TAG_LENGTH for t in body.tags):
        raise ApiError(422, f"at most {MAX_TAGS} tags of 1 to {MAX_TAG_LENGTH} characters each")
    ttl = _seconds("ttl", body.ttl)
    if ttl is not None and ttl <= 0:
        raise ApiError(422, "ttl must be positive")
    req = TriggerRequest(
        task=str(request.path_params["name"]), payload=msgspec.json.encode(body.payload), tags=body.tags,
        metadata=body.metadata, queue=body.queue, concurrency_key=body.concurrency_key,
        idempotency_key=body.idempotency_key, idempotency_ttl_s=_seconds("idempotency_ttl", body.idempotency_ttl),
        request_key=request.headers.get("idempotency-key"), priority=body.priority,
        delay_until=_delay_until(body.delay), ttl_s=ttl, max_attempts=body.max_attempts,
        max_duration_s=_seconds("max_duration", body.max_duration),
    )  # fmt: skip
    result = await _service(request).trigger(req)
    return json_response(TriggerResult(run=render_run(result.run), cached=result.cached), 200 if result.cached else 201)


async def list_runs(request: Request) -> Response:
    q = request.query_params
    try:
        limit = parse_int(q.get("limit", "50"), 1, 1000)
        statuses = [RunStatus(s) for s in q["status"].split(",")] if q.get("status") else None
    except ValueError as exc:
        raise ApiError(422, f"bad query: {exc}") from None
    if not 1 <= limit <= 1000:
        raise ApiError(422, "limit must be from 1 to 1000")
    params = ListRunsParams(
        limit=limit, after=q.get("after"), before=q.get("before"), statuses=statuses,
        tasks=q["task"].split(",") if q.get("task") else None, tags=q["tag"].split(",") if q.get("tag") else None,
        queues=q["queue"].split(",") if q.get("queue") else None,
    )  # fmt: skip
    page = await _service(request).list_runs(params)
    return json_response(
        RunsPage(runs=[render_run(r) for r in page.runs], next_cursor=page.next_cursor, prev_cursor=page.prev_cursor)
    )


async def get_run(request: Request) -> Response:
    service = _service(request)
    run = await service.get_run(_run_id(request))
    view = render_run(run, await service.attempts(run.id))
    view.waiting = await service.why_waiting(run)
    return json_response(view)


async def cancel_run(request: Request) -> Response:
    return json_response(render_run(await _service(request).cancel(_run_id(request))))


async def replay_run(request: Request) -> Response:
    result = await _service(request).replay(_run_id(request))
    return json_response(TriggerResult(run=render_run(result.run), cached=False), 201)


async def run_logs(request: Request) -> Response:
    service = _service(request)
    run_id = _run_id(request)
    try:
        after = parse_int(request.query_params.get("after", "0"), 0, INT64_MAX)
        limit = parse_int(request.query_params.get("limit", "1000"), 1, 5000)
    except ValueError as exc:
        raise ApiError(422, f"after and limit: {exc}") from None
    run = await service.get_run(run_id)
    lines = await service.logs(run_id, after_seq=after, limit=limit)
    page = LogPage(
        lines=[NativeLogLine(seq=ln.seq, attempt=ln.attempt, stream=ln.stream, ts=us_to_rfc3339(ln.ts), text=ln.text)
               for ln in lines],
        next_after=lines[-1].seq if lines else after,
        finished=run.is_final and len(lines) < limit,
        truncated=(await service.log_size(run_id)).truncated,
    )  # fmt: skip
    return json_response(page)


async def list_tasks(request: Request) -> Response:
    tasks = [
        NativeTask(name=t.name, kind=t.kind, queue=t.queue_name, concurrency_limit=t.concurrency_limit,
                   max_attempts=t.retry.max_attempts, timeout_s=t.timeout, description=t.description)
        for t in _service(request).tasks
    ]  # fmt: skip
    return json_response(TaskList(tasks=tasks))


async def list_queues(request: Request) -> Response:
    queues = await _service(request).queues()
    return json_response(QueueList(queues=[NativeQueue(name=q.name, concurrency_limit=q.concurrency_limit,
                                                       paused=q.paused) for q in queues]))  # fmt: skip


async def health(request: Request) -> Response:
    return json_response(Health(status="ok"))


ENDPOINTS = [
    Endpoint("GET", "/health", health, "Liveness", "native", response=Health, auth=False),
    Endpoint("GET", "/v1/tasks", list_tasks, "List tasks", "native", response=TaskList),
    Endpoint("POST", "/v1/tasks/{name}/trigger", trigger, "Trigger a run", "native", hot=True, body=TriggerBody,
             response=TriggerResult, status=201,
             also={200: "an idempotency key or Idempotency-Key header matched an existing run (cached: true)"}),
    Endpoint("GET", "/v1/runs", list_runs, "List runs, newest first", "native", response=RunsPage,
             query={"status": "", "task": "", "tag": "", "queue": "", "limit": "1..1000", "after": "", "before": ""},
             schemas={"limit": int_schema(1, 1000), "status": csv_schema([s.value for s in RunStatus])}),
    Endpoint("GET", "/v1/runs/{id}", get_run, "Get a run with its attempts", "native", response=NativeRun),
    Endpoint("POST", "/v1/runs/{id}/cancel", cancel_run, "Cancel a run", "native", response=NativeRun),
    Endpoint("POST", "/v1/runs/{id}/replay", replay_run, "Replay a run", "native", response=TriggerResult, status=201),
    Endpoint("GET", "/v1/runs/{id}/logs", run_logs, "A run's log lines", "native", response=LogPage,
             query={"after": "last line seen", "limit": ""},
             schemas={"after": int_schema(0, INT64_MAX), "limit": int_schema(1, 5000)}),
    Endpoint("GET", "/v1/queues", list_queues, "List queues", "native", response=QueueList),
]  # fmt: skip

DIALECT = Dialect(
    name="native",
    prefixes=("/v1/", "/health"),
    endpoints=[*ENDPOINTS, *native_schedules.ENDPOINTS],
    render_error=problem,
    error_schema=Problem,
    error_media_type="application/problem+json",
    statuses=STATUSES,
    open_paths=frozenset({"/health"}),
)
