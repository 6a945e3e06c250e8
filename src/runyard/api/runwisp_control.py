"""RunWisp's task and bulk controls: `POST /api/tasks/{taskName}/restart` and `/stop` (204), and
`POST /api/runs/bulk/stop` with RunWisp's run selector (`{affected}`).

- restart: a service's replicas stop and start again (a stopped service starts); a task's live runs are
  canceled, and once they have ended exactly one fresh run is triggered.
- stop: a service's replicas stop and stay stopped until a restart (or the server restarts); a task's live
  runs are canceled and its queued runs dropped.
- bulk stop: every live run the selector picks (explicit `ids`, or `match_all` over a `filter` of status,
  task name and search, minus `except_ids`) is canceled; `affected` counts them.
"""

from __future__ import annotations

import asyncio

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.common import ApiError, Endpoint, ProblemDetail, decode_body, json_response, read_body
from runyard.api.runwisp import END_REASON_STATUSES
from runyard.errors import NotFoundError
from runyard.models import FINAL_STATUSES, PENDING_STATUSES, RunStatus, TaskDef, TriggeredBy
from runyard.records import ListRunsParams
from runyard.service import Service, TriggerRequest
from runyard.services import Supervisor
from runyard.settings import validate_task_name

LIVE = sorted({*PENDING_STATUSES, RunStatus.EXECUTING})
RESTART_WAIT_S = 60.0  # a task's canceled runs must end within this before its fresh run starts
MAX_SELECTED = 10_000


class RunFilter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: str = ""  # phases and/or end reasons, comma-separated
    task_name: str = ""
    search: str = ""


class RunSelector(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which runs a bulk operation takes: `ids`, or with `match_all` every run matching `filter` except
    `except_ids`."""

    match_all: bool = False
    filter: RunFilter = msgspec.field(default_factory=RunFilter)
    ids: list[str] = msgspec.field(default_factory=list)
    except_ids: list[str] = msgspec.field(default_factory=list)


class BulkAffected(msgspec.Struct, kw_only=True):
    affected: int


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _task(request: Request) -> TaskDef:
    name = str(request.path_params["taskName"])
    if problem := validate_task_name(name):
        raise ApiError(422, "validation failed", [ProblemDetail(location="path.taskName", message=problem, value=name)])
    try:
        return _service(request).task(name)
    except NotFoundError:
        raise ApiError(404, f"task {name!r} not found") from None


def _supervisor(request: Request) -> Supervisor | None:
    supervisor: Supervisor | None = request.app.state.runtime.supervisor
    return supervisor


async def _cancel_live(service: Service, params: ListRunsParams, skip: frozenset[str] = frozenset()) -> list[str]:
    """Cancel the live runs `params` selects (their statuses narrowed to the live ones); returns their ids."""
    wanted = [s for s in (params.statuses or LIVE) if s not in FINAL_STATUSES]
    if not wanted:
        return []
    params = msgspec.structs.replace(params, statuses=wanted, limit=1000, sort=None, offset=0)
    canceled: list[str] = []
    while len(canceled) < MAX_SELECTED:
        page = await service.list_runs(params)
        for run in page.runs:
            if run.id not in skip and (await service.cancel(run.id)).status is RunStatus.CANCELED:
                canceled.append(run.id)
        if page.next_cursor is None:
            break
        params = msgspec.structs.replace(params, after=page.next_cursor)
    return canceled


async def restart_task(request: Request) -> Response:
    task = _task(request)
    service, supervisor = _service(request), _supervisor(request)
    if task.instances > 0:
        if supervisor is None:
            raise ApiError(409, "services run under `runyard server`; this process does not supervise them")
        await supervisor.restart(task.name)
        return Response(status_code=204)
    canceled = await _cancel_live(service, ListRunsParams(tasks=[task.name]))
    try:
        async with asyncio.timeout(RESTART_WAIT_S):
            for run_id in canceled:
                await service.wait(run_id, RESTART_WAIT_S)
    except TimeoutError:
        raise ApiError(409, "the task's canceled runs did not end in time; no new run was started") from None
    via = request.query_params.get("via", "")
    triggered_by = {"ui": TriggeredBy.UI, "cli": TriggeredBy.CLI}.get(via, TriggeredBy.API)
    await service.trigger(TriggerRequest(task=task.name, triggered_by=triggered_by))
    return Response(status_code=204)


async def stop_task(request: Request) -> Response:
    task = _task(request)
    supervisor = _supervisor(request)
    if task.instances > 0 and supervisor is not None:
        await supervisor.park(task.name)
    else:
        await _cancel_live(_service(request), ListRunsParams(tasks=[task.name]))
    return Response(status_code=204)


async def bulk_stop(request: Request) -> Response:
    selector: RunSelector = decode_body(await read_body(request), RunSelector)
    if selector.match_all and selector.ids:
        raise ApiError(422, "ids must be empty when match_all is true")
    if not selector.match_all and not selector.ids:
        raise ApiError(422, "ids must be non-empty when match_all is false")
    if not selector.match_all and selector.except_ids:
        raise ApiError(422, "except_ids must be empty when match_all is false")
    service = _service(request)
    if not selector.match_all:
        affected = 0
        for run_id in dict.fromkeys(i.upper() for i in selector.ids[:MAX_SELECTED]):
            try:
                before = await service.get_run(run_id)
            except NotFoundError:
                continue  # an unknown id selects nothing
            if not before.is_final and (await service.cancel(run_id)).status is RunStatus.CANCELED:
                affected += 1
        return json_response(BulkAffected(affected=affected))
    f = selector.filter
    statuses = None
    if f.status.strip():
        words = [w.strip() for w in f.status.split(",") if w.strip()]
        statuses = sorted({s for w in words for s in END_REASON_STATUSES.get(w, [])})
        if not statuses:
            return json_response(BulkAffected(affected=0))  # unknown values select nothing, as the list does
    params = ListRunsParams(statuses=statuses, tasks=[f.task_name] if f.task_name else None,
                            search=f.search.strip()[:200] or None)  # fmt: skip
    canceled = await _cancel_live(service, params, frozenset(i.upper() for i in selector.except_ids))
    return json_response(BulkAffected(affected=len(canceled)))


_NAME = {"taskName": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,100}$"}}
_TASK_ERRORS = {404: "no such task", 422: "an invalid task name"}
ENDPOINTS = [
    Endpoint("POST", "/api/tasks/{taskName}/restart", restart_task, "Restart a service's instances, or stop a "
             "task's live runs and start one fresh run", "runwisp", status=204, schemas=_NAME,
             query={"via": "ui | cli: who asked (the fresh run's triggered_by)"},
             errors={**_TASK_ERRORS, 409: "the task's runs did not end in time, or no supervisor here"}),
    Endpoint("POST", "/api/tasks/{taskName}/stop", stop_task, "Stop a service (until restarted), or cancel a "
             "task's live and queued runs", "runwisp", status=204, schemas=_NAME, errors=_TASK_ERRORS),
    Endpoint("POST", "/api/runs/bulk/stop", bulk_stop, "Stop every live run a selector picks", "runwisp",
             body=RunSelector, response=BulkAffected,
             errors={400: "the body is not JSON", 422: "an invalid selector (ids xor match_all)"}),
]  # fmt: skip
