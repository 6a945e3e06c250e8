"""The RunWisp dialect: `POST /api/tasks/{taskName}/run` and the read side a RunWisp user has.

Contract: the Run object in snake_case (optional fields left out, never null), problem+json errors.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from runyard.api.common import (
    EPOCH_MS_SCHEMA,
    RUN_ID_SCHEMA,
    TOO_DEEP,
    ApiError,
    Endpoint,
    Problem,
    ProblemDetail,
    base_url,
    int_schema,
    json_response,
    parse_int,
    problem,
    query,
    read_body,
)
from runyard.api.dialect import Dialect
from runyard.durations import parse_time_us
from runyard.errors import NotFoundError
from runyard.ids import is_ulid, us_to_rfc3339
from runyard.models import FAILURE_STATUSES, FINAL_STATUSES, PENDING_STATUSES, Run, RunStatus, TaskDef, TriggeredBy
from runyard.records import ListRunsParams
from runyard.service import Service, TriggerRequest
from runyard.settings import validate_task_name

TASK_NAME = re.compile(r"^[a-zA-Z0-9._:-]+$")
WAIT_DEFAULT_S = 120


class RunWispRun(msgspec.Struct, kw_only=True, omit_defaults=True):
    schema: str | None = msgspec.field(default=None, name="$schema")
    created_at: str
    end_at: str | None = None
    end_reason: str | None = None
    exit_code: int
    external_execution_id: str | None = None
    id: str
    replica_index: int
    retry_attempt: int
    retry_of_run_id: str | None = None
    start_at: str | None = None
    status: str
    task_name: str
    triggered_by: str
    params: dict[str, str] | None = None  # the values a task with declared params ran with


class TriggerRunBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    params: dict[str, str | None] | None = None


class RunList(msgspec.Struct, kw_only=True):
    items: list[RunWispRun]
    total: int


class RunsSummary(msgspec.Struct, kw_only=True):
    total: int
    success: int
    failed: int
    missed: int
    lastFailure: RunWispRun | None


class RunWispTask(msgspec.Struct, kw_only=True, omit_defaults=True):
    name: str
    kind: str
    description: str = ""
    run: str | None = None
    queue: str
    max_concurrent: int | None = None
    retry_attempts: int
    timeout: int | None = None  # nanoseconds, as RunWisp reports durations
    graceful_stop: int
    manual_trigger: bool = True


class TaskList(msgspec.Struct, kw_only=True):
    items: list[RunWispTask]


class RunWispLogLine(msgspec.Struct, kw_only=True):
    n: int
    ts: int
    stream: str
    text: str


class LogPage(msgspec.Struct, kw_only=True):
    lines: list[RunWispLogLine]
    firstAvailable: int
    totalLines: int
    truncated: bool
    finalized: bool


PHASE = {RunStatus.DELAYED: "pending", RunStatus.QUEUED: "pending", RunStatus.EXECUTING: "running"}
STATUSES = {status: "ended" if status.is_final else PHASE[status] for status in RunStatus}
END_REASON_STATUSES: dict[str, list[RunStatus]] = {
    "success": [RunStatus.COMPLETED],
    "failed": [RunStatus.FAILED],
    "start_failed": [RunStatus.FAILED],
    "stopped": [RunStatus.CANCELED],
    "timeout": [RunStatus.TIMED_OUT],
    "crashed": [RunStatus.CRASHED, RunStatus.SYSTEM_FAILURE],
    "missed": [RunStatus.EXPIRED],
    "pending": sorted(PENDING_STATUSES),
    "running": [RunStatus.EXECUTING],
    "ended": sorted(FINAL_STATUSES),
}
DEFAULT_END_REASON = {
    RunStatus.COMPLETED: "success", RunStatus.FAILED: "failed", RunStatus.CANCELED: "stopped",
    RunStatus.TIMED_OUT: "timeout", RunStatus.CRASHED: "crashed", RunStatus.EXPIRED: "missed",
    RunStatus.SYSTEM_FAILURE: "crashed",
}  # fmt: skip


def render_run(run: Run, base_url: str | None = None) -> RunWispRun:
    ended = run.is_final
    end_reason = None
    if ended:
        end_reason = run.end_reason.value if run.end_reason else DEFAULT_END_REASON[run.status]
        if end_reason == "system_failure":
            end_reason = "crashed"
    return RunWispRun(
        schema=f"{base_url}/schemas/Run.json" if base_url else None,
        created_at=us_to_rfc3339(run.created_at),
        end_at=us_to_rfc3339(run.ended_at) if ended and run.ended_at else None,
        end_reason=end_reason,
        exit_code=run.exit_code if run.exit_code is not None else (-1 if ended else 0),
        id=run.id,
        replica_index=run.replica_index,
        retry_attempt=_retry_attempt(run),
        retry_of_run_id=run.retry_of,
        start_at=us_to_rfc3339(run.started_at) if run.started_at else None,
        status=STATUSES[run.status],
        task_name=run.task,
        triggered_by=run.triggered_by.value,
        params=_params_of(run),
    )


def _retry_attempt(run: Run) -> int:
    """0 for a first try, n for the n-th retry: the attempt running or last run, or, for a run waiting to start,
    the attempt it will make (a run that retries a failed run counts on from it)."""
    if run.status in PENDING_STATUSES:
        return run.attempt_count
    return max(0, run.attempt_count - 1)


def _params_of(run: Run) -> dict[str, str] | None:
    """The params a run got (its payload is `{"params": {...}}` when its task declares params)."""
    if not run.payload.startswith(b'{"params":'):
        return None
    try:
        found = msgspec.json.decode(run.payload, type=dict[str, dict[str, str]])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return found.get("params") if len(found) == 1 else None


def render_task(task: TaskDef) -> RunWispTask:
    return RunWispTask(
        name=task.name,
        kind=task.kind,
        description=task.description,
        run=str(task.config["command"]) if task.kind == "shell" else None,
        queue=task.queue_name,
        max_concurrent=task.concurrency_limit,
        retry_attempts=task.retry.max_attempts - 1,
        timeout=int(task.timeout * 1e9) if task.timeout is not None else None,
        graceful_stop=int(task.graceful_stop * 1e9),
    )


def _invalid(location: str, message: str, value: Any = msgspec.UNSET, status: int = 422) -> ApiError:
    return ApiError(status, "validation failed", [ProblemDetail(location=location, message=message, value=value)])


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _base(request: Request) -> str:
    return base_url(request)


def _run_id(request: Request) -> str:
    run_id = str(request.path_params["runId"])
    if not is_ulid(run_id.upper()):
        raise _invalid("path.runId", "expected a run id (26 characters, Crockford base32)", run_id)
    return run_id.upper()


def _bool_query(request: Request, name: str) -> bool:
    raw = query(request).get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise _invalid(f"query.{name}", "expected a boolean (true or false)", raw)


def _int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = query(request).get(name)
    if raw is None:
        return default
    try:
        value = parse_int(raw, low, high)
    except ValueError as exc:
        raise _invalid(f"query.{name}", str(exc), raw) from None
    return value


async def trigger_run(request: Request) -> Response:
    name = str(request.path_params["taskName"])
    problem_text = validate_task_name(name)
    if problem_text:
        raise _invalid("path.taskName", problem_text, name)
    wait = _bool_query(request, "wait")
    wait_timeout = _int_query(request, "waitTimeout", WAIT_DEFAULT_S, 1, 240)
    via = query(request).get("via", "")
    if via not in ("", "ui", "cli"):
        raise _invalid("query.via", "expected one of: ui, cli", via)
    raw = await read_body(request)
    params = None
    if raw.strip():
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise _invalid("body", f"the body is not valid JSON: {exc}", status=400) from None
        except RecursionError:
            raise _invalid("body", TOO_DEEP, status=400) from None
        if not isinstance(body, dict):
            raise _invalid("body", "expected a JSON object")
        for key in body:
            if key != "params":
                raise ApiError(
                    422,
                    "unexpected property",
                    [ProblemDetail(location=f"body.{key}", message="unexpected property", value=body[key])],
                )
        params = body.get("params")
        if params is not None and not isinstance(params, dict):
            raise _invalid("body.params", "expected an object of parameter values", params)
    service = _service(request)
    if service.tasks.get(name) is None:
        raise ApiError(404, "task not found")
    triggered_by = TriggeredBy(via) if via else TriggeredBy.API
    result = await service.trigger(TriggerRequest(task=name, triggered_by=triggered_by, params=params or None))
    run = result.run
    if wait:
        run = await service.wait(run.id, wait_timeout)
    return json_response(render_run(run, _base(request)), 201)


async def trigger_without_name(request: Request) -> Response:
    raise ApiError(
        422,
        "required path parameter is missing",
        [ProblemDetail(location="path.taskName", message="required path parameter is missing")],
    )


async def trailing_slash(request: Request) -> Response:
    """RunWisp answers a trailing slash on the trigger route with 405, not a redirect."""
    response = problem(405, "method not allowed")
    response.headers["allow"] = "POST"
    return response


def _list_params(request: Request) -> ListRunsParams:
    q = request.query_params
    limit = _int_query(request, "limit", 50, 1, 1000)
    offset = _int_query(request, "offset", 0, 0, 100_000)
    statuses: list[RunStatus] | None = None
    if q.get("status"):
        wanted = [s.strip() for s in q["status"].split(",") if s.strip()]
        statuses = sorted({st for w in wanted for st in END_REASON_STATUSES.get(w, [])})
        if not statuses:
            statuses = []  # unknown values give an empty list, as RunWisp does
    triggered = None
    if q.get("triggeredBy"):
        triggered = [TriggeredBy(t) for t in q["triggeredBy"].split(",") if t in TriggeredBy._value2member_map_]
    sort_field = q.get("sortField") or "createdAt"
    if sort_field not in SORT_FIELDS:
        raise _invalid("query.sortField", f"expected one of: {', '.join(SORT_FIELDS)}", sort_field)
    direction = q.get("sortDirection") or "desc"
    if direction not in ("asc", "desc"):
        raise _invalid("query.sortDirection", "expected one of: asc, desc", direction)
    low, high = _optional_int(request, "exitCodeMin"), _optional_int(request, "exitCodeMax")
    failure = q.get("isFailure")
    params = ListRunsParams(
        exit_code_min=low,
        exit_code_max=high,
        retries_only=_bool_query(request, "retriesOnly"),
        failed=None if failure in (None, "") else _bool_query(request, "isFailure"),
        search=(q.get("search") or "").strip()[:200] or None,
        # newest first from the start is the cursor query's own order (by id, no sort step); other orders
        # and later offsets page through the sorted query
        sort=None if (sort_field, direction, offset) == ("createdAt", "desc", 0) else SORT_FIELDS[sort_field],
        descending=direction == "desc",
        offset=offset,
        limit=limit,
        statuses=statuses,
        tasks=[q["taskName"]] if q.get("taskName") else None,
        triggered_by=triggered,
        created_from=_time_query(request, "createdAfter"),
        created_to=_time_query(request, "createdBefore"),
    )
    return params


SORT_FIELDS = {"taskName": "task", "status": "status", "startedAt": "started_at", "exitCode": "exit_code",
               "duration": "duration", "createdAt": "created_at"}  # fmt: skip


def _optional_int(request: Request, name: str) -> int | None:
    if not request.query_params.get(name):
        return None
    return _int_query(request, name, 0, -(2**31), 2**31 - 1)


def _time_query(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_time_us(raw)
    except ValueError as exc:
        raise _invalid(f"query.{name}", str(exc), raw) from None


async def list_runs(request: Request) -> Response:
    params = _list_params(request)
    service = _service(request)
    if params.statuses == []:
        return json_response(RunList(items=[], total=0))
    page = await service.list_runs(params)
    total = await service.count_runs(params)
    base = _base(request)
    return json_response(RunList(items=[render_run(r, base) for r in page.runs], total=total))


async def runs_summary(request: Request) -> Response:
    """`{total, success, failed, missed, lastFailure}` over every run (lastFailure: the newest failure): one
    grouped count and one read of the newest failure."""
    service = _service(request)
    counts = await service.count_by_status()
    last = (await service.list_runs(ListRunsParams(failed=True, limit=1))).runs
    return json_response(
        RunsSummary(
            total=sum(counts.values()),
            success=counts.get(RunStatus.COMPLETED, 0),
            failed=sum(counts.get(s, 0) for s in FAILURE_STATUSES),
            missed=counts.get(RunStatus.EXPIRED, 0),
            lastFailure=render_run(last[0], _base(request)) if last else None,
        )
    )


async def _get(request: Request, not_found: str = "run not found") -> Run:
    try:
        return await _service(request).get_run(_run_id(request))
    except NotFoundError:
        raise ApiError(404, not_found) from None


async def get_run(request: Request) -> Response:
    return json_response(render_run(await _get(request), _base(request)))


async def stop_run(request: Request) -> Response:
    service = _service(request)
    run = await _get(request)
    if run.status is not RunStatus.EXECUTING:
        raise ApiError(400, "run is not currently running")
    await service.cancel(run.id)
    return Response(status_code=204)


async def run_log(request: Request) -> Response:
    service = _service(request)
    run = await _get(request, "record not found")
    start = _int_query(request, "from", 1, 1, 2**62)
    limit = _int_query(request, "limit", 1000, 1, 10_000)
    lines = await service.logs(run.id, after_seq=start - 1, limit=limit)
    size = await service.log_size(run.id)
    page = LogPage(
        lines=[RunWispLogLine(n=ln.seq, ts=ln.ts * 1000, stream=ln.stream, text=ln.text) for ln in lines],
        firstAvailable=1 if size.lines else 0,
        totalLines=size.lines,
        truncated=size.truncated,
        finalized=run.is_final,
    )
    return json_response(page)


async def run_log_raw(request: Request) -> Response:
    service = _service(request)
    run = await _get(request, "record not found")
    chunks: list[str] = []
    after = 0
    while True:
        lines = await service.logs(run.id, after_seq=after, limit=5000)
        if not lines:
            break
        chunks.extend(ln.text + "\n" for ln in lines)
        after = lines[-1].seq
    return PlainTextResponse("".join(chunks))


async def list_tasks(request: Request) -> Response:
    return json_response(TaskList(items=[render_task(t) for t in _service(request).tasks]))


async def get_task(request: Request) -> Response:
    task = _service(request).tasks.get(str(request.path_params["name"]))
    if task is None:
        raise ApiError(404, "task not found")
    return json_response(render_task(task))


def standalone_schema(type_: Any, base: str) -> dict[str, Any]:
    """A JSON Schema document for one msgspec type, with `$id` and the type's own definition at the top."""
    schema = msgspec.json.schema(type_)
    defs: dict[str, Any] = schema.pop("$defs", {})
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    top: dict[str, Any] = defs.pop(name, schema)
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": base, **top}
    if defs:
        document["$defs"] = defs
    return document


async def run_schema(request: Request) -> Response:
    return json_response(standalone_schema(RunWispRun, f"{_base(request)}/schemas/Run.json"))


async def error_schema(request: Request) -> Response:
    return json_response(standalone_schema(Problem, f"{_base(request)}/schemas/ErrorModel.json"))


ENDPOINTS = [
    Endpoint("POST", "/api/tasks/{taskName}/run", trigger_run, "Trigger a new run", "runwisp", hot=True,
             body=TriggerRunBody,
             response=RunWispRun, status=201,
             query={"wait": "block until the run ends", "waitTimeout": "1..240 s", "via": "ui | cli"},
             schemas={"taskName": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,100}$"},
                      "wait": {"type": "boolean"}, "waitTimeout": int_schema(1, 240),
                      "via": {"type": "string", "enum": ["ui", "cli"]}}),
    Endpoint("POST", "/api/tasks//run", trigger_without_name, "An empty task name (422)", "runwisp"),
    Endpoint("POST", "/api/tasks/{taskName}/run/", trailing_slash, "A trailing slash (405)", "runwisp"),
    Endpoint("GET", "/api/runs", list_runs, "List runs, newest first", "runwisp", response=RunList,
             query={"limit": "1..1000", "offset": "", "status": "phases or end reasons, comma-separated",
                    "taskName": "", "triggeredBy": "", "createdAfter": "", "createdBefore": "",
                    "exitCodeMin": "", "exitCodeMax": "", "retriesOnly": "runs that took more than one attempt",
                    "isFailure": "true: failed, timed out or crashed", "sortField": ", ".join(SORT_FIELDS),
                    "sortDirection": "asc | desc (default)", "search": "part of a task name, or a run id"},
             schemas={"limit": int_schema(1, 1000), "offset": int_schema(0, 100_000), "createdAfter": EPOCH_MS_SCHEMA,
                      "createdBefore": EPOCH_MS_SCHEMA, "retriesOnly": {"type": "boolean"},
                      "isFailure": {"type": "boolean"}, "sortField": {"type": "string", "enum": [*SORT_FIELDS, ""]},
                      "sortDirection": {"type": "string", "enum": ["asc", "desc", ""]},  # "": the default
                      "exitCodeMin": int_schema(-(2**31), 2**31 - 1), "exitCodeMax": int_schema(-(2**31), 2**31 - 1)}),
    Endpoint("GET", "/api/runs/summary", runs_summary, "Counts of runs and the newest failure", "runwisp",
             response=RunsSummary),
    Endpoint("GET", "/api/runs/{runId}", get_run, "Get a run", "runwisp", response=RunWispRun,
             schemas={"runId": RUN_ID_SCHEMA}),
    Endpoint("POST", "/api/runs/{runId}/stop", stop_run, "Stop a running run", "runwisp", status=204,
             schemas={"runId": RUN_ID_SCHEMA}),
    Endpoint("GET", "/api/runs/{runId}/log", run_log, "A run's log lines", "runwisp", response=LogPage,
             query={"from": "first line number", "limit": ""},
             schemas={"runId": RUN_ID_SCHEMA, "from": int_schema(1, 2**62), "limit": int_schema(1, 10_000)}),
    Endpoint("GET", "/api/runs/{runId}/log/raw", run_log_raw, "A run's log as text", "runwisp",
             content_type="text/plain", schemas={"runId": RUN_ID_SCHEMA}),
    Endpoint("GET", "/api/tasks", list_tasks, "List tasks", "runwisp", response=TaskList),
    Endpoint("GET", "/api/tasks/{name}", get_task, "Get a task", "runwisp", response=RunWispTask),
    Endpoint("GET", "/schemas/Run.json", run_schema, "JSON Schema of the Run object", "runwisp", auth=False),
    Endpoint("GET", "/schemas/ErrorModel.json", error_schema, "JSON Schema of errors", "runwisp", auth=False),
]  # fmt: skip

DIALECT = Dialect(
    name="runwisp",
    prefixes=("/api/", "/schemas/"),
    endpoints=ENDPOINTS,
    render_error=problem,
    error_schema=Problem,
    error_media_type="application/problem+json",
    statuses=STATUSES,
    open_prefixes=("/schemas/",),
)
