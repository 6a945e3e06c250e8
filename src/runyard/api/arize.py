"""The Arize AX v2 dialect: evaluation and experiment tasks (engine suites in the "@arize" workspace) and their
task runs (evaluation runs), as the `arize` client calls them. Datasets, experiments and evaluators are in
`arize_catalog`. Auth: `Authorization: Bearer <runyard API key>`. Errors: problem+json (RFC 9457).

What a run evaluates:
- a dataset-based evaluation task: the outputs of its experiments (`experiment_ids`), with its evaluators;
- a run_experiment task: the dataset's examples, each answered by the model its run configuration names
  (sent to the evaluation task's chat-completions endpoint), scored by the evaluators of the
  `evaluation_task_ids` given; the run is the experiment (`experiment_id`);
- a project-based evaluation task: the spans of its project in the data window. runyard does not ingest spans
  yet, so such a run evaluates nothing and ends `cancelled` with a failure_reason that says so.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api import arize_catalog, arize_evaluators
from runyard.api.arize_wire import (
    AUTH_ERRORS,
    EVAL_TRIGGER_FIELDS,
    EXPERIMENT_TRIGGER_FIELDS,
    ID_SCHEMA,
    RUN_STATUSES,
    STATUSES,
    TASK_TYPES,
    ArizeProblem,
    CreateTaskBody,
    Pagination,
    Task,
    TaskEvaluator,
    TaskEvaluatorInput,
    TaskPage,
    TaskRun,
    TaskRunPage,
    TriggerBody,
    UpdateTaskBody,
    bad,
    check_id,
    enum_in,
    evals_of,
    iso,
    key_of,
    limit_of,
    mint,
    offset_of,
    offset_page,
    parse_time,
    remap,
    render_error,
    wants_upper,
)
from runyard.api.common import ApiError, Endpoint, decode_body, json_response, read_body
from runyard.api.dialect import Dialect
from runyard.errors import ConflictError, NotFoundError
from runyard.evals.service import SUITE_TASK, Evaluations
from runyard.evals.spec import Counts, EvaluationSpec, Evaluator, Generation, Item, ItemStatus, Message, Suite
from runyard.ids import now_us
from runyard.models import Run, RunStatus
from runyard.records import ListRunsParams

SCOPE = "@arize"
DAY_US = 86_400 * 1_000_000
MAX_WINDOW_US = 30 * DAY_US
DEFAULT_MAX_SPANS = 10_000
EXPERIMENT_TAG = "experiment"
NO_SPANS = "no spans to evaluate in the data window (none arrived at /v1/traces, or all were evaluated before)"
RUN_CONFIG_TYPES = ("LLM_GENERATION", "TEMPLATE_EVALUATION", "AGENT_CALL")
ROLES = ("USER", "ASSISTANT", "SYSTEM", "TOOL")
SYNTAXES = ("F_STRING", "MUSTACHE", "NONE")


def _word(word: str, upper: bool) -> str:
    return word.upper() if upper else word


async def _suite(request: Request, raw: str) -> Suite:
    try:
        return await evals_of(request).suite(SCOPE, key_of("Task", raw))
    except NotFoundError:
        raise ApiError(404, f"task not found: {raw}") from None


def suite_of(run: Run) -> str | None:
    return next((t[6:] for t in run.tags if t.startswith("suite:")), None)


async def _last_run(evals: Evaluations, suite: Suite) -> Run | None:
    runs = await evals.suite_runs([suite.id], limit=1)
    return runs[0] if runs else None


async def render_task(evals: Evaluations, suite: Suite, upper: bool) -> Task:
    a = suite.attributes
    last = await _last_run(evals, suite)
    return Task(
        id=mint("Task", suite.id), name=suite.name, type=_word(suite.kind, upper), project_id=a.get("project_id"),
        dataset_id=a.get("dataset_id"), sampling_rate=a.get("sampling_rate"), is_continuous=a.get("is_continuous"),
        query_filter=a.get("query_filter"), query_filters=a.get("query_filters"),
        evaluators=msgspec.convert(a.get("evaluators") or [], list[TaskEvaluator]),
        experiment_ids=a.get("experiment_ids"), run_configuration=a.get("run_configuration"),
        last_run_at=iso(last.created_at) if last else None, created_at=iso(suite.created_at),
        updated_at=iso(suite.updated_at),
    )  # fmt: skip


def render_run(run: Run, counts: Counts, upper: bool) -> TaskRun:
    meta = run.metadata or {}
    status, reason = STATUSES[run.status], None
    if run.status is RunStatus.COMPLETED and counts.total == 0 and meta.get("source") == "project":
        status, reason = "cancelled", NO_SPANS
    elif status == "failed":
        reason = str((run.error or {}).get("message") or run.end_reason or run.status.value)
    elif status == "cancelled":
        reason = "cancelled before it finished"
    suite = suite_of(run) or ""
    return TaskRun(
        id=mint("TaskRun", run.id), task_id=mint("Task", suite),
        experiment_id=mint("Experiment", run.id) if EXPERIMENT_TAG in run.tags else None,
        status=_word(status, upper), run_started_at=iso(run.started_at), run_finished_at=iso(run.ended_at),
        data_start_time=iso(meta.get("data_start_time")), data_end_time=iso(meta.get("data_end_time")),
        num_successes=counts.success, num_errors=counts.error, num_skipped=counts.skipped,
        created_at=iso(run.created_at), failure_reason=reason,
    )  # fmt: skip


async def _run_of(request: Request, raw: str) -> Run:
    try:
        run: Run = await request.app.state.service.get_run(key_of("TaskRun", raw, what="task run"))
    except NotFoundError:
        raise ApiError(404, f"task run not found: {raw}") from None
    suite_id = suite_of(run)
    if suite_id is None or run.task != SUITE_TASK:
        raise ApiError(404, f"task run not found: {raw}")
    try:
        await evals_of(request).suite(SCOPE, suite_id)
    except NotFoundError:
        raise ApiError(404, f"task run not found: {raw}") from None
    return run


# -- task definitions -----------------------------------------------------------------------------------------
async def _evaluator_refs(request: Request, kind: str, refs: list[TaskEvaluatorInput] | None) -> list[dict[str, Any]]:
    if not refs:
        raise bad("evaluators: at least one evaluator is required")
    want = "template" if kind == "template_evaluation" else "code"
    out = []
    for n, ref in enumerate(refs):
        found = await arize_evaluators.named_evaluator(request, ref.evaluator_id)
        if found.kind != want:
            raise bad(f"evaluators[{n}]: a {kind} task takes {want.upper()} evaluators; {found.name!r} is not one")
        if ref.evaluator_version_id is not None:
            arize_evaluators.evaluator_version(found, ref.evaluator_version_id)
        if ref.query_filter or ref.query_mappings:
            raise bad(f"evaluators[{n}]: query filters and mappings need span data, which this server does not have")
        out.append(msgspec.to_builtins(ref) | {"evaluator_name": found.name})
    return out


async def _experiments_of(request: Request, dataset_id: str, ids: list[str], field: str) -> list[str]:
    for n, experiment_id in enumerate(ids):
        run = await arize_catalog.experiment_run(request, experiment_id)
        if f"dataset:{key_of('Dataset', dataset_id)}" not in run.tags:
            raise bad(f"{field}[{n}]: experiment {experiment_id} is not an experiment of dataset {dataset_id}")
    return ids


def _run_configuration(raw: dict[str, Any] | None) -> dict[str, Any]:
    if raw is None:
        raise bad("run_configuration: required for run_experiment tasks")
    kind = str(raw.get("experiment_type", "")).upper()
    if kind not in RUN_CONFIG_TYPES:
        raise bad(f"run_configuration.experiment_type: one of {', '.join(RUN_CONFIG_TYPES)}")
    if kind != "LLM_GENERATION":
        raise bad(f"run_configuration.experiment_type: this server runs LLM_GENERATION experiments, not {kind}")
    messages = raw.get("messages")
    if not isinstance(messages, list) or not messages:
        messages = [None]
    if not all(
        isinstance(m, dict) and str(m.get("role", "")).upper() in ROLES and isinstance(m.get("content"), str)
        for m in messages
    ):
        raise bad(f"run_configuration.messages: at least one, each {{role ({', '.join(ROLES)}), content (text)}}")
    syntax = str(raw.get("input_variable_format", "F_STRING")).upper()
    if syntax not in SYNTAXES:
        raise bad(f"run_configuration.input_variable_format: one of {', '.join(SYNTAXES)}")
    roles = [m | {"role": str(m["role"]).upper()} for m in messages]
    raw = raw | {"messages": roles, "input_variable_format": syntax}
    return raw | {"experiment_type": kind}


async def create_task(request: Request) -> Response:
    body: CreateTaskBody = decode_body(await read_body(request), CreateTaskBody)
    kind = enum_in("type", body.type, TASK_TYPES)
    if not body.name.strip() or len(body.name) > 255:
        raise bad("name: 1 to 255 characters")
    attrs: dict[str, Any] = {}
    if kind == "run_experiment":
        for field in ("project_id", "experiment_ids", "sampling_rate", "is_continuous", "query_filter",
                      "query_filters", "evaluators"):  # fmt: skip
            if getattr(body, field) is not None:
                raise bad(f"{field}: not applicable to run_experiment tasks")
        if body.dataset_id is None:
            raise bad("dataset_id: required for run_experiment tasks")
        await arize_catalog.dataset_of(request, body.dataset_id)
        attrs = {"dataset_id": body.dataset_id, "run_configuration": _run_configuration(body.run_configuration)}
    else:
        if body.run_configuration is not None:
            raise bad("run_configuration: only run_experiment tasks have one")
        if (body.project_id is None) == (body.dataset_id is None):
            raise bad("project_id, dataset_id: exactly one of them is required")
        if body.query_filter is not None and body.query_filters is not None:
            raise bad("query_filter, query_filters: give at most one of them")
        if body.query_filter or body.query_filters:
            raise bad("query_filter: filters need span data, which this server does not have")
        if body.dataset_id is not None:
            await arize_catalog.dataset_of(request, body.dataset_id)
            if not body.experiment_ids:
                raise bad("experiment_ids: at least one is required for a dataset-based task")
            if body.sampling_rate is not None or body.is_continuous:
                raise bad("sampling_rate, is_continuous: only project-based tasks have them")
            experiments = await _experiments_of(request, body.dataset_id, body.experiment_ids, "experiment_ids")
            attrs = {"dataset_id": body.dataset_id, "experiment_ids": experiments, "is_continuous": False}
        else:
            assert body.project_id is not None
            check_id("project_id", body.project_id)
            if body.experiment_ids:
                raise bad("experiment_ids: only dataset-based tasks have them")
            if body.sampling_rate is not None and not 0 <= body.sampling_rate <= 1:
                raise bad("sampling_rate: between 0 and 1")
            attrs = {"project_id": body.project_id, "sampling_rate": body.sampling_rate if body.sampling_rate
                     is not None else 1.0, "is_continuous": bool(body.is_continuous)}  # fmt: skip
        attrs["evaluators"] = await _evaluator_refs(request, kind, body.evaluators)
    evals = evals_of(request)
    suite = Suite(id="", scope=SCOPE, name=body.name, kind=kind, attributes=attrs)
    saved = await evals.save_suite(suite, create=True)
    return json_response(await render_task(evals, saved, wants_upper(request)), 201)


async def get_task(request: Request) -> Response:
    suite = await _suite(request, request.path_params["task_id"])
    return json_response(await render_task(evals_of(request), suite, wants_upper(request)))


async def list_tasks(request: Request) -> Response:
    q = request.query_params
    name, project, dataset = q.get("name"), q.get("project_id"), q.get("dataset_id")
    kind = enum_in("type", q["type"], TASK_TYPES) if q.get("type") else None
    offset, limit = offset_of(request), limit_of(request)

    def keep(s: Suite) -> bool:
        a = s.attributes
        return ((name is None or name.lower() in s.name.lower()) and (kind is None or s.kind == kind)
                and (project is None or a.get("project_id") == project)
                and (dataset is None or a.get("dataset_id") == dataset))  # fmt: skip

    evals = evals_of(request)
    suites, total = await evals.suites(SCOPE, skip=offset, limit=limit, where=keep)
    tasks = [await render_task(evals, s, wants_upper(request)) for s in suites]
    return json_response(TaskPage(tasks=tasks, pagination=offset_page(offset, len(tasks), total)))


async def update_task(request: Request) -> Response:
    suite = await _suite(request, request.path_params["task_id"])
    body: UpdateTaskBody = decode_body(await read_body(request), UpdateTaskBody)
    attrs, name = dict(suite.attributes), suite.name
    if body.name is not None:
        if not body.name.strip() or len(body.name) > 255:
            raise bad("name: 1 to 255 characters")
        name = body.name
    if suite.kind == "run_experiment":
        for field in ("sampling_rate", "is_continuous", "evaluators"):
            if getattr(body, field) is not None:
                raise bad(f"{field}: not applicable to run_experiment tasks")
        if body.query_filter or body.query_filters:
            raise bad("query_filter: not applicable to run_experiment tasks")
        if body.run_configuration is not None:
            attrs["run_configuration"] = _run_configuration(body.run_configuration)
    else:
        if body.run_configuration is not None:
            raise bad("run_configuration: only run_experiment tasks have one")
        if body.query_filter or body.query_filters:
            raise bad("query_filter: filters need span data, which this server does not have")
        project = attrs.get("project_id") is not None
        if (body.sampling_rate is not None or body.is_continuous) and not project:
            raise bad("sampling_rate, is_continuous: only project-based tasks have them")
        if body.sampling_rate is not None:
            if not 0 <= body.sampling_rate <= 1:
                raise bad("sampling_rate: between 0 and 1")
            attrs["sampling_rate"] = body.sampling_rate
        if body.is_continuous is not None:
            attrs["is_continuous"] = body.is_continuous
        if body.evaluators is not None:
            attrs["evaluators"] = await _evaluator_refs(request, suite.kind, body.evaluators)
    evals = evals_of(request)
    saved = await evals.save_suite(msgspec.structs.replace(suite, name=name, attributes=attrs), create=False)
    return json_response(await render_task(evals, saved, wants_upper(request)))


async def delete_task(request: Request) -> Response:
    suite = await _suite(request, request.path_params["task_id"])
    await evals_of(request).delete_suite(SCOPE, suite.id)
    return Response(status_code=204)


# -- triggering -----------------------------------------------------------------------------------------------
async def evaluators_of(request: Request, suite: Suite) -> list[Evaluator]:
    """A task's evaluators as the engine runs them: each at its pinned (or newest) version, columns mapped."""
    out: list[Evaluator] = []
    for ref in msgspec.convert(suite.attributes.get("evaluators") or [], list[TaskEvaluator]):
        found = await arize_evaluators.named_evaluator(request, ref.evaluator_id)
        version = arize_evaluators.evaluator_version(found, ref.evaluator_version_id)
        if version.evaluator is None:
            raise bad(f"evaluator {found.name!r} cannot be run by this server")
        out.append(remap(version.evaluator, ref.column_mappings))
    return out


def _fields(raw: bytes) -> dict[str, Any]:
    """The trigger body's fields that are set; a field no task type has, or a value of the wrong type, is a 400
    like any other field that does not apply."""
    try:
        body: TriggerBody = decode_body(raw, TriggerBody)
    except ApiError as exc:
        raise ApiError(400, exc.message, exc.errors) from None
    return {k: v for k, v in msgspec.to_builtins(body).items() if v is not None}


async def _trigger_evaluation(request: Request, suite: Suite, given: dict[str, Any]) -> Run:
    if wrong := sorted(set(given) & EXPERIMENT_TRIGGER_FIELDS):
        raise bad(f"{', '.join(wrong)}: not applicable to {suite.kind} tasks")
    body: TriggerBody = msgspec.convert(given, TriggerBody)  # only this type's fields are set
    if body.max_spans is not None and body.max_spans < 1:
        raise bad("max_spans: at least 1")
    evals, attrs = evals_of(request), suite.attributes
    tags = [f"suite:{suite.id}"]
    evaluators = await evaluators_of(request, suite)
    if attrs.get("dataset_id") is not None:
        if wrong := sorted(set(given) & {"data_start_time", "data_end_time", "max_spans"}):
            raise bad(f"{', '.join(wrong)}: not applicable to dataset-based tasks")
        experiments = body.experiment_ids or attrs.get("experiment_ids") or []
        await _experiments_of(request, attrs["dataset_id"], experiments, "experiment_ids")
        items: list[Item] = []
        for experiment_id in experiments:
            items += await evals.outputs(key_of("Experiment", experiment_id))
        meta: dict[str, Any] = {"source": "dataset", "experiment_ids": experiments}
        spec = EvaluationSpec(items=items, evaluators=evaluators)
        return await evals.start(SUITE_TASK, spec, tags=tags, metadata=meta, allow_empty=True)
    if body.experiment_ids:
        raise bad("experiment_ids: only for dataset-based tasks")
    now = now_us()
    end = parse_time("data_end_time", body.data_end_time) if body.data_end_time else now
    if body.data_start_time:
        start = parse_time("data_start_time", body.data_start_time)
    else:
        last = await _last_run(evals, suite)
        previous = (last.metadata or {}).get("data_end_time") if last else None
        start = max(int(previous or suite.created_at), end - MAX_WINDOW_US)
    if start >= end:
        raise bad("data_start_time: must be before data_end_time")
    if end - start > MAX_WINDOW_US:
        raise bad("data_start_time, data_end_time: the window spans at most 30 days")
    limit = body.max_spans or DEFAULT_MAX_SPANS
    meta = {"source": "project", "data_start_time": start, "data_end_time": end, "max_spans": limit,
            "override_evaluations": bool(body.override_evaluations)}  # fmt: skip
    project = arize_catalog.project_name(attrs["project_id"])
    items = []
    if project is not None:
        rate = float(attrs.get("sampling_rate", 1.0))
        items = await evals.span_items(project, start, end, limit=limit, sampling_rate=rate)
        if not body.override_evaluations:
            done = await _evaluated_spans(request, suite, start, end)
            items = [i for i in items if i.id not in done]
    spec = EvaluationSpec(items=items, evaluators=evaluators)
    return await evals.start(SUITE_TASK, spec, tags=tags, metadata=meta, allow_empty=True)


async def _evaluated_spans(request: Request, suite: Suite, start: int, end: int) -> set[str]:
    """Spans that the task's earlier completed runs (of its newest 50) with an overlapping window evaluated or
    skipped (a span does not change); spans whose evaluation failed get another go."""
    evals, seen = evals_of(request), set()
    for run in await evals.suite_runs([suite.id], limit=50):
        meta = run.metadata or {}
        overlaps = meta.get("data_start_time", end) < end and meta.get("data_end_time", start) > start
        if run.status is RunStatus.COMPLETED and overlaps:
            after = -1
            while page := await evals.results(run.id, after=after):
                seen |= {r.item_id for r in page if r.status is not ItemStatus.ERROR}
                after = page[-1].index
    return seen


async def _trigger_experiment(request: Request, suite: Suite, given: dict[str, Any]) -> Run:
    if wrong := sorted(set(given) & EVAL_TRIGGER_FIELDS):
        raise bad(f"{', '.join(wrong)}: not applicable to run_experiment tasks")
    body: TriggerBody = msgspec.convert(given, TriggerBody)  # only this type's fields are set
    name = body.experiment_name
    if name is None:
        raise bad("experiment_name: required for run_experiment tasks")
    if not 1 <= len(name) <= 255 or '"' in name or "\\" in name:
        raise bad('experiment_name: 1 to 255 characters, without double quotes (") or backslashes')
    if body.example_ids is not None and body.max_examples is not None:
        raise bad("example_ids, max_examples: give at most one of them")
    if body.max_examples is not None and body.max_examples < 1:
        raise bad("max_examples: at least 1")
    if body.query_filter:
        raise bad("query_filter: this server does not filter examples; use example_ids")
    dataset_id = suite.attributes["dataset_id"]
    dataset = await arize_catalog.dataset_of(request, dataset_id)
    version = arize_catalog.version_of(dataset, body.dataset_version_id) if body.dataset_version_id else None
    evaluators: list[Evaluator] = []
    for n, task_id in enumerate(body.evaluation_task_ids or []):
        other = await _suite(request, task_id)
        if other.kind == "run_experiment" or other.attributes.get("dataset_id") != dataset_id:
            raise bad(f"evaluation_task_ids[{n}]: not an evaluation task of dataset {dataset_id}")
        evaluators += await evaluators_of(request, other)
    config = suite.attributes["run_configuration"]
    generate = Generation(messages=[Message(role=m["role"].lower(), content=m["content"]) for m in config["messages"]],
                          model=config.get("model_name"), syntax=config["input_variable_format"].lower())  # fmt: skip
    meta = {"source": "experiment", "experiment_name": name, "dataset_version": version,
            "tracing_metadata": body.tracing_metadata}  # fmt: skip
    spec = EvaluationSpec(items=[], evaluators=evaluators, generate=generate)
    try:
        return await evals_of(request).start(
            SUITE_TASK, spec, dataset_id=dataset.id, version=version, example_ids=body.example_ids,
            max_examples=body.max_examples, tags=[f"suite:{suite.id}", EXPERIMENT_TAG, f"dataset:{dataset.id}"],
            metadata={k: v for k, v in meta.items() if v is not None},
            unique_key=arize_catalog.experiment_key(dataset.id, name),
        )  # fmt: skip
    except ConflictError:
        raise ApiError(409, f"experiment_name: the dataset has an experiment named {name!r}") from None


async def trigger(request: Request) -> Response:
    suite = await _suite(request, request.path_params["task_id"])
    given = _fields(await read_body(request))
    if suite.kind == "run_experiment":
        run = await _trigger_experiment(request, suite, given)
    else:
        run = await _trigger_evaluation(request, suite, given)
    counts = await evals_of(request).counts(run.id)
    return json_response(render_run(run, counts, wants_upper(request)), 201)


# -- task runs ----------------------------------------------------------------------------------------------------
async def get_run(request: Request) -> Response:
    run = await _run_of(request, request.path_params["run_id"])
    return json_response(render_run(run, await evals_of(request).counts(run.id), wants_upper(request)))


async def cancel_run(request: Request) -> Response:
    run = await _run_of(request, request.path_params["run_id"])
    if run.is_final:
        raise bad(f"the run is {STATUSES[run.status]}; only a pending or running run can be cancelled")
    run = await request.app.state.service.cancel(run.id)
    return json_response(render_run(run, await evals_of(request).counts(run.id), wants_upper(request)))


async def list_runs(request: Request) -> Response:
    suite = await _suite(request, request.path_params["task_id"])
    raw_status = request.query_params.get("status")
    statuses = None
    if raw_status:
        word = enum_in("status", raw_status, RUN_STATUSES)
        statuses = [s for s, w in STATUSES.items() if w == word]
    cursor = request.query_params.get("cursor")
    after = key_of("Cursor", cursor, what="cursor") if cursor else None
    params = ListRunsParams(tags=[f"suite:{suite.id}"], tasks=[SUITE_TASK], statuses=statuses,
                            limit=limit_of(request), after=after)  # fmt: skip
    page = await request.app.state.service.list_runs(params)
    evals, upper = evals_of(request), wants_upper(request)
    runs = [render_run(r, await evals.counts(r.id), upper) for r in page.runs]
    more = page.next_cursor is not None
    pagination = Pagination(has_more=more, next_cursor=mint("Cursor", page.next_cursor) if page.next_cursor else None)
    return json_response(TaskRunPage(task_runs=runs, pagination=pagination))


_ID, _AUTH = ID_SCHEMA, AUTH_ERRORS
_ONE = {**_AUTH, 404: "no such task (or not an id of one)"}
_WRITE = {**_AUTH, 400: "invalid input, or a field that does not apply to the task's type; nothing changed",
          413: "the body is over the server's limit", 422: "the body does not have the request's shape"}  # fmt: skip
_LIST_Q = {"limit": "Page size, 1 to 100 (default 50)", "cursor": "next_cursor of the previous page"}
_LIST_S: dict[str, dict[str, Any]] = {"limit": {"type": "integer", "minimum": 1, "maximum": 100}, "cursor": _ID}
_TYPES = {"type": "string", "enum": [*TASK_TYPES, *(t.upper() for t in TASK_TYPES)]}
_STATUSES = {"type": "string", "enum": [*RUN_STATUSES, *(s.upper() for s in RUN_STATUSES)]}
ENDPOINTS = [
    Endpoint("POST", "/v2/tasks", create_task, "Create a task", "arize", body=CreateTaskBody, response=Task,
             status=201, errors={**_WRITE, 404: "an evaluator, dataset or experiment it names does not exist"}),
    Endpoint("GET", "/v2/tasks", list_tasks, "List tasks", "arize", response=TaskPage,
             query={**_LIST_Q, "name": "Part of the name", "project_id": "Project id", "dataset_id": "Dataset id",
                    "type": "Task type"}, schemas={**_LIST_S, "type": _TYPES, "project_id": _ID, "dataset_id": _ID},
             errors={**_AUTH, 400: "invalid limit, cursor or type"}),
    Endpoint("GET", "/v2/tasks/{task_id}", get_task, "Get a task", "arize", response=Task, errors=_ONE,
             schemas={"task_id": _ID}),
    Endpoint("PATCH", "/v2/tasks/{task_id}", update_task, "Update a task", "arize", body=UpdateTaskBody,
             response=Task, errors={**_WRITE, **_ONE}, schemas={"task_id": _ID}),
    Endpoint("DELETE", "/v2/tasks/{task_id}", delete_task, "Delete a task (its runs stay)", "arize", status=204,
             errors=_ONE, schemas={"task_id": _ID}),
    Endpoint("POST", "/v2/tasks/{task_id}/trigger", trigger, "Trigger a task run", "arize", body=TriggerBody,
             response=TaskRun, status=201, schemas={"task_id": _ID},
             errors={**_ONE, 400: "a field that does not apply to the task's type, or an invalid value; nothing "
                     "created", 413: "the body is over the server's limit",
                     409: "an experiment of that name exists on the dataset"}),
    Endpoint("GET", "/v2/tasks/{task_id}/runs", list_runs, "List a task's runs (newest first)", "arize",
             response=TaskRunPage, query={**_LIST_Q, "status": "Only runs of this status"},
             schemas={"task_id": _ID, **_LIST_S, "status": _STATUSES},
             errors={**_ONE, 400: "invalid limit, cursor or status"}),
    Endpoint("GET", "/v2/task-runs/{run_id}", get_run, "Get a task run", "arize", response=TaskRun,
             schemas={"run_id": _ID}, errors={**_AUTH, 404: "no such task run"}),
    Endpoint("POST", "/v2/task-runs/{run_id}/cancel", cancel_run, "Cancel a pending or running task run", "arize",
             response=TaskRun, schemas={"run_id": _ID},
             errors={**_AUTH, 400: "the run has finished; it is left as it is", 404: "no such task run"}),
]  # fmt: skip

DIALECT = Dialect(
    name="arize",
    prefixes=("/v2/",),
    endpoints=[*ENDPOINTS, *arize_catalog.ENDPOINTS, *arize_evaluators.ENDPOINTS],
    render_error=render_error,
    error_schema=ArizeProblem,
    error_media_type="application/problem+json",
    statuses=STATUSES,
)
