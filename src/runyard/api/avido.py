"""The Avido v0 dialect: applications, tasks (engine suites) and their tests (evaluation runs), trigger,
and webhook validation, as the `avido` SDK calls them. Auth: x-api-key (a runyard API key) and
x-application-id, a configured application, which scopes everything."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.avido_wire import (
    CRITICALITY_CRON,
    MAX_TRIGGER,
    STATUSES,
    TASK_TYPES,
    ApplicationEnvelope,
    ApplicationPage,
    AvidoError,
    CreateTaskBody,
    ScheduleIn,
    TaskEnvelope,
    TaskOut,
    TaskPage,
    TestEnvelope,
    TestPage,
    TriggerBody,
    UpdateTaskBody,
    ValidateWebhookBody,
    ValidateWebhookResponse,
    check_task_fields,
    check_uuid,
    decode,
    evaluators_of,
    invalid,
    issues_of,
    pagination,
    render_application,
    render_task,
    render_test,
)
from runyard.api.common import ApiError, Endpoint, ProblemDetail, int_schema, json_response, read_body
from runyard.api.dialect import Dialect
from runyard.errors import NotFoundError
from runyard.evals.apps import Application, verify
from runyard.evals.spec import Counts, Suite
from runyard.models import Run, RunStatus
from runyard.service import Service

TASK_NOT_FOUND = "Task not found"
MAX_PAGE = 100


def render_error(status: int, message: str, errors: list[ProblemDetail] | None = None) -> Response:
    body = AvidoError(message=message, issues=issues_of(errors) if status == 422 and errors else None)
    if status == 422 and body.issues is None:
        body.issues = []
    return Response(
        msgspec.json.encode(body), status_code=status, media_type="application/json",
        headers={"x-should-retry": "false"} if status == 409 or status >= 500 else None,
    )  # fmt: skip


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def app_of(request: Request) -> Application:
    """The application x-application-id names (401 when none is named or it is unknown)."""
    app_id = request.headers.get("x-application-id", "")
    if not app_id:
        raise ApiError(401, "missing x-application-id header")
    try:
        return _service(request).evaluations.application(app_id)
    except NotFoundError:
        raise ApiError(401, "unknown application: x-application-id names no application of this server") from None


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,9}", raw) or not low <= int(raw) <= high:
        raise invalid(name, f"Expected an integer from {low} to {high}", "invalid_type")
    return int(raw)


async def _suite(request: Request, app: Application, task_id: str) -> Suite:
    try:
        return await _service(request).evaluations.suite(app.id, task_id)
    except NotFoundError:
        raise ApiError(404, TASK_NOT_FOUND) from None


async def _last(service: Service, suite: Suite) -> tuple[Run, Counts] | None:
    for run in await service.evaluations.suite_runs([suite.id], limit=20):
        if run.status is RunStatus.COMPLETED:
            return run, await service.evaluations.counts(run.id)
    return None


# -- applications ---------------------------------------------------------------------------------------
async def list_applications(request: Request) -> Response:
    app_of(request)
    skip, limit = _int(request, "skip", 0, 0, 10**9), _int(request, "limit", 25, 1, MAX_PAGE)
    apps = list(_service(request).evaluations.applications.values())
    page = [render_application(a) for a in apps[skip : skip + limit]]
    return json_response(ApplicationPage(data=page, pagination=pagination(skip, limit, len(apps))))


async def get_application(request: Request) -> Response:
    app_of(request)
    try:
        app = _service(request).evaluations.application(str(request.path_params["id"]))
    except NotFoundError:
        raise ApiError(404, "Application not found") from None
    return json_response(ApplicationEnvelope(data=render_application(app)))


# -- tasks ------------------------------------------------------------------------------------------------
async def create_task(request: Request) -> Response:
    app = app_of(request)
    body: CreateTaskBody = decode(await read_body(request), CreateTaskBody)
    check_task_fields(body.title, body.description, body.inputExamples, body.topicId)
    if body.type not in TASK_TYPES:
        raise invalid("type", f"Invalid enum value. Expected {' | '.join(TASK_TYPES)}", "invalid_enum_value")
    evaluators = evaluators_of(body.evalDefinitions or [])
    attributes: dict[str, Any] = {
        "topicId": body.topicId, "simulatedPromptSchema": body.simulatedPromptSchema,
        "quickstartId": body.quickstartId, "isVerified": False,
        "evalDefinitions": [msgspec.to_builtins(d.evalDefinition) | {"config": d.config}
                            for d in body.evalDefinitions or []],
    }  # fmt: skip
    suite = Suite(
        id="", scope=app.id, name=body.title, description=body.description, kind=body.type,
        metadata=body.metadata or {}, inputs=list(body.inputExamples or []), evaluators=evaluators,
        attributes=attributes,
    )  # fmt: skip
    evals = _service(request).evaluations
    criticality = _criticality(body.taskSchedule) if body.taskSchedule is not None else None
    if criticality is not None:
        suite.attributes["criticality"] = criticality
    saved = await evals.save_suite(suite, create=True)
    schedule = await evals.schedule_suite(saved, CRITICALITY_CRON[criticality]) if criticality else None
    return json_response(TaskEnvelope(task=render_task(saved, None, schedule)), 201)


def _criticality(given: ScheduleIn) -> str:
    word = given.criticality.upper()
    if word not in CRITICALITY_CRON:
        raise invalid("taskSchedule.criticality", "Invalid enum value. Expected 'LOW' | 'MEDIUM' | 'HIGH'",
                      "invalid_enum_value")  # fmt: skip
    return word


async def _render(service: Service, suite: Suite) -> TaskOut:
    return render_task(suite, await _last(service, suite), await service.evaluations.suite_schedule(suite.id))


async def get_task(request: Request) -> Response:
    app = app_of(request)
    suite = await _suite(request, app, str(request.path_params["id"]))
    return json_response(TaskEnvelope(task=await _render(_service(request), suite)))


async def list_tasks(request: Request) -> Response:
    app = app_of(request)
    skip, limit = _int(request, "skip", 0, 0, 10**9), _int(request, "limit", 25, 1, MAX_PAGE)
    service = _service(request)
    wanted = {w.upper() for w in request.query_params.get("scheduleCriticality", "").split(",") if w}
    where = (lambda s: s.attributes.get("criticality") in wanted) if wanted else None
    suites, total = await service.evaluations.suites(app.id, skip=skip, limit=limit, where=where)
    data = [await _render(service, s) for s in suites]
    return json_response(TaskPage(data=data, pagination=pagination(skip, limit, total)))


async def update_task(request: Request) -> Response:
    app = app_of(request)
    suite = await _suite(request, app, str(request.path_params["id"]))
    body: UpdateTaskBody = decode(await read_body(request), UpdateTaskBody)
    topic = None if body.topicId is msgspec.UNSET else body.topicId
    check_task_fields(body.title, body.description, body.inputExamples, topic)
    attrs = dict(suite.attributes)
    if body.topicId is not msgspec.UNSET:
        attrs["topicId"] = body.topicId
    if body.simulatedPromptSchema is not msgspec.UNSET:
        attrs["simulatedPromptSchema"] = body.simulatedPromptSchema
    if body.isVerified is not None:
        attrs["isVerified"] = body.isVerified
    changed = msgspec.structs.replace(
        suite, name=body.title if body.title is not None else suite.name,
        description=body.description if body.description is not None else suite.description,
        inputs=list(body.inputExamples) if body.inputExamples is not None else suite.inputs,
        metadata=suite.metadata if body.metadata is msgspec.UNSET else (body.metadata or {}), attributes=attrs,
    )  # fmt: skip
    if body.taskSchedule is None:
        changed.attributes.pop("criticality", None)
    elif body.taskSchedule is not msgspec.UNSET:
        changed.attributes["criticality"] = _criticality(body.taskSchedule)
    service = _service(request)
    try:
        saved = await service.evaluations.save_suite(changed, create=False)
    except NotFoundError:
        raise ApiError(404, TASK_NOT_FOUND) from None
    criticality = saved.attributes.get("criticality")
    await service.evaluations.schedule_suite(saved, CRITICALITY_CRON[criticality] if criticality else None)
    return json_response(TaskEnvelope(task=await _render(service, saved)))


async def trigger_tasks(request: Request) -> Response:
    """One test per task, all created together or none; 204 with no body."""
    app = app_of(request)
    body: TriggerBody = decode(await read_body(request), TriggerBody)  # 1 to MAX_TRIGGER ids, in Avido's words
    for n, task_id in enumerate(body.taskIds):
        check_uuid(f"taskIds.{n}", task_id)
    ids = list(dict.fromkeys(body.taskIds))
    for task_id in ids:
        await _suite(request, app, task_id)
    await _service(request).evaluations.run_suites(app.id, ids)
    return Response(status_code=204)


# -- tests -------------------------------------------------------------------------------------------------
async def list_tests(request: Request) -> Response:
    app = app_of(request)
    skip, limit = _int(request, "skip", 0, 0, 10**9), _int(request, "limit", 25, 1, MAX_PAGE)
    raw = request.query_params.get("taskId", "")
    task_ids = [t for t in raw.split(",") if t]
    service = _service(request)
    if task_ids:
        suites = {t: await _suite(request, app, t) for t in task_ids}
    else:
        suites = {s.id: s for s in (await service.evaluations.suites(app.id, limit=1000))[0]}
    runs = await service.evaluations.suite_runs(list(suites), limit=1000) if suites else []
    page = runs[skip : skip + limit]
    data = []
    for run in page:
        suite = suites[next(t[6:] for t in run.tags if t.startswith("suite:"))]
        data.append(render_test(run, suite, await service.evaluations.counts(run.id)))
    return json_response(TestPage(data=data, pagination=pagination(skip, limit, len(runs))))


async def get_test(request: Request) -> Response:
    app = app_of(request)
    service = _service(request)
    try:
        run = await service.get_run(str(request.path_params["id"]))
        suite_id = next(t[6:] for t in run.tags if t.startswith("suite:"))
        suite = await service.evaluations.suite(app.id, suite_id)
    except (NotFoundError, StopIteration):
        raise ApiError(404, "Test not found") from None
    return json_response(TestEnvelope(test=render_test(run, suite, await service.evaluations.counts(run.id))))


async def validate_webhook(request: Request) -> Response:
    """Whether a webhook request this server sent is genuine: HMAC-SHA256 of "<timestamp>.<body>"."""
    app = app_of(request)
    body: ValidateWebhookBody = decode(await read_body(request), ValidateWebhookBody)
    timestamp = "" if body.timestamp is None else str(body.timestamp)
    valid = verify(app.secret, timestamp, msgspec.json.encode(body.body), body.signature)
    return json_response(ValidateWebhookResponse(valid=valid))


_Q_PAGE = {"skip": "Items to skip (offset)", "limit": f"Page size, 1 to {MAX_PAGE}"}
_S_PAGE = {"skip": int_schema(0, 10**9), "limit": int_schema(1, MAX_PAGE)}
_AUTH = {401: "missing or invalid x-api-key, or x-application-id names no application"}
_READ = {**_AUTH, 422: "invalid skip or limit"}
_ONE = {**_AUTH, 404: "unknown id (or of another application)"}
_WRITE = {**_AUTH, 400: "the body is not JSON", 413: "the body is over the server's limit",
          422: "invalid input: {message, issues: [{code, message, path}]}, nothing changed"}  # fmt: skip
ENDPOINTS = [
    Endpoint("GET", "/v0/applications", list_applications, "List applications", "avido", response=ApplicationPage,
             query=_Q_PAGE, schemas=_S_PAGE, errors=_READ),
    Endpoint("GET", "/v0/applications/{id}", get_application, "Get an application", "avido",
             response=ApplicationEnvelope, errors=_ONE),
    Endpoint("POST", "/v0/tasks/trigger", trigger_tasks, f"Run tasks (1 to {MAX_TRIGGER}): one test each", "avido",
             body=TriggerBody, status=204, errors={**_WRITE, 404: "Task not found: an id names no task"}),
    Endpoint("POST", "/v0/tasks", create_task, "Create a task", "avido", body=CreateTaskBody, response=TaskEnvelope,
             status=201, errors=_WRITE),
    Endpoint("GET", "/v0/tasks", list_tasks, "List tasks", "avido", response=TaskPage,
             query={**_Q_PAGE, "scheduleCriticality": "Only tasks with a schedule of these criticalities (LOW, MEDIUM, "
                    "HIGH), comma-separated"}, schemas=_S_PAGE, errors=_READ),
    Endpoint("GET", "/v0/tasks/{id}", get_task, "Get a task", "avido", response=TaskEnvelope, errors=_ONE),
    Endpoint("PUT", "/v0/tasks/{id}", update_task, "Update a task", "avido", body=UpdateTaskBody,
             response=TaskEnvelope, errors={**_WRITE, **_ONE}),
    Endpoint("GET", "/v0/tests", list_tests, "List tests", "avido", response=TestPage,
             query={**_Q_PAGE, "taskId": "Task ids, comma-separated"}, schemas=_S_PAGE,
             errors={**_READ, 404: "Task not found"}),
    Endpoint("GET", "/v0/tests/{id}", get_test, "Get a test", "avido", response=TestEnvelope, errors=_ONE),
    Endpoint("POST", "/v0/validate-webhook", validate_webhook, "Check a webhook's signature", "avido",
             body=ValidateWebhookBody, response=ValidateWebhookResponse, errors=_WRITE),
]  # fmt: skip

DIALECT = Dialect(
    name="avido",
    prefixes=("/v0/",),
    endpoints=ENDPOINTS,
    render_error=render_error,
    error_schema=AvidoError,
    error_media_type="application/json",
    statuses=STATUSES,
    also_headers={"applicationId": "x-application-id"},  # the application under test that scopes everything
)
