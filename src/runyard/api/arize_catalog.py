"""Arize AX v2: datasets (engine datasets), experiments (evaluation runs whose items carry their outputs) and
evaluators (engine named evaluators), over REST as the `arize` client calls them with `force_http`. Larger
uploads go over Arrow Flight in that client; this server serves REST only, 1 to 1,000 examples or runs a call."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.arize_wire import (
    AUTH_ERRORS,
    ID_SCHEMA,
    PAGE_QUERY,
    PAGE_SCHEMAS,
    WRITE_ERRORS,
    Pagination,
    SpaceId,
    bad,
    check_id,
    evals_of,
    iso,
    key_of,
    limit_of,
    mint,
    offset_of,
    offset_page,
)
from runyard.api.common import ApiError, Endpoint, decode_body, json_response, read_body
from runyard.errors import ConflictError, NotFoundError
from runyard.evals.service import SUITE_TASK
from runyard.evals.spec import (
    Dataset,
    EvaluationSpec,
    Example,
    Item,
    ItemStatus,
    SpanProject,
)
from runyard.models import Run
from runyard.records import ListRunsParams

MAX_REST = 1000
EXPERIMENT_TAG = "experiment"


# -- wire types -----------------------------------------------------------------------------------------------
Rows = Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=MAX_REST)]


class CreateDatasetBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    space_id: SpaceId
    examples: Rows


class ExamplesBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    examples: Rows


class UpdateExamplesBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    examples: Rows  # each with its "id" and the columns to set
    new_version: str | None = None  # a name for the version (every change is a new version here)


class SearchExamplesBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A page of examples or experiment runs (`dataset_version_id` only for examples)."""

    filter: str | None = None
    limit: int | None = None
    cursor: str | None = None
    dataset_version_id: str | None = None


class DatasetVersionOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    dataset_id: str
    created_at: str | None
    updated_at: str | None


class DatasetOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    space_id: str | None
    created_at: str | None
    updated_at: str | None
    versions: list[DatasetVersionOut]


class DatasetVersionWithExampleIds(msgspec.Struct, kw_only=True):
    id: str
    name: str
    space_id: str | None
    created_at: str | None
    updated_at: str | None
    dataset_version_id: str
    example_ids: list[str]


class ExamplePage(msgspec.Struct, kw_only=True):
    examples: list[dict[str, Any]]  # {id, created_at, updated_at, <columns>}
    pagination: Pagination


class ExperimentRunInput(msgspec.Struct, kw_only=True):
    output: str
    example_id: str | None = None


class CreateExperimentBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern='^[^"\\\\]*$')]
    experiment_runs: Rows
    dataset_id: str | None = None
    space_id: str | None = None


class ExperimentOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    space_id: str | None
    dataset_id: str | None
    dataset_version_id: str | None
    created_at: str | None
    updated_at: str | None
    experiment_traces_project_id: str | None = None


class ExperimentWithRunIds(ExperimentOut, kw_only=True):
    run_ids: list[str]


class ExperimentPage(msgspec.Struct, kw_only=True):
    experiments: list[ExperimentOut]
    pagination: Pagination


class ExperimentRunPage(msgspec.Struct, kw_only=True):
    experiment_runs: list[dict[str, Any]]  # {id, example_id, output, error, eval.<name>.score|label|explanation}
    pagination: Pagination


# -- datasets --------------------------------------------------------------------------------------------------
async def dataset_of(request: Request, raw: str) -> Dataset:
    try:
        return await evals_of(request).dataset(key_of("Dataset", raw, what="dataset"))
    except NotFoundError:
        raise ApiError(404, f"dataset not found: {raw}") from None


def version_of(dataset: Dataset, raw: str) -> int:
    key = key_of("DatasetVersion", raw, what="dataset version")
    owner, _, number = key.rpartition(":")
    if owner != dataset.id or not number.isdigit() or not 1 <= int(number) <= dataset.version:
        raise ApiError(404, f"dataset version not found: {raw}")
    return int(number)


def _space(dataset_name: str) -> str:
    return mint("Space", "default")


def render_dataset(d: Dataset) -> DatasetOut:
    versions = [
        DatasetVersionOut(id=mint("DatasetVersion", f"{d.id}:{n}"), name=f"v{n}", dataset_id=mint("Dataset", d.id),
                          created_at=iso(d.created_at if n == 1 else d.updated_at), updated_at=iso(d.updated_at))
        for n in range(1, d.version + 1)
    ]  # fmt: skip
    return DatasetOut(id=mint("Dataset", d.id), name=d.name, space_id=_space(d.name), created_at=iso(d.created_at),
                      updated_at=iso(d.updated_at), versions=versions)  # fmt: skip


def _examples(rows: list[dict[str, Any]]) -> list[Example]:
    out = []  # 1 to MAX_REST rows: the body type (Rows) holds them to it
    for n, row in enumerate(rows):
        given = row.get("id")
        if given is not None and (not isinstance(given, str) or not given or len(given) > 200):
            raise bad(f"examples[{n}].id: a non-empty string of at most 200 characters")
        columns = {k: v for k, v in row.items() if k not in ("id", "created_at", "updated_at")}
        out.append(Example(id=given or str(uuid.uuid4()), input=columns))
    return out


async def create_dataset(request: Request) -> Response:
    body: CreateDatasetBody = decode_body(await read_body(request), CreateDatasetBody)
    check_id("space_id", body.space_id)
    dataset = await evals_of(request).create_dataset(body.name, _examples(body.examples))
    return json_response(render_dataset(dataset), 201)


async def get_dataset(request: Request) -> Response:
    return json_response(render_dataset(await dataset_of(request, request.path_params["dataset_id"])))


class DatasetPage(msgspec.Struct, kw_only=True):
    datasets: list[DatasetOut]
    pagination: Pagination


async def list_datasets(request: Request) -> Response:
    offset, limit = offset_of(request), limit_of(request)
    found, total = await evals_of(request).datasets(name=request.query_params.get("name"), skip=offset, limit=limit)
    shown = [render_dataset(d) for d in found]
    return json_response(DatasetPage(datasets=shown, pagination=offset_page(offset, len(shown), total)))


async def delete_dataset(request: Request) -> Response:
    dataset = await dataset_of(request, request.path_params["dataset_id"])
    await evals_of(request).delete_dataset(dataset.id)
    return Response(status_code=204)


async def append_examples(request: Request) -> Response:
    dataset = await dataset_of(request, request.path_params["dataset_id"])
    body: ExamplesBody = decode_body(await read_body(request), ExamplesBody)
    examples = _examples(body.examples)
    d = await evals_of(request).append_examples(dataset.id, examples)
    return json_response(DatasetVersionWithExampleIds(
        id=mint("Dataset", d.id), name=d.name, space_id=_space(d.name), created_at=iso(d.created_at),
        updated_at=iso(d.updated_at), dataset_version_id=mint("DatasetVersion", f"{d.id}:{d.version}"),
        example_ids=[e.id for e in examples],
    ), 201)  # fmt: skip


async def update_examples(request: Request) -> Response:
    """The named columns of the examples with these ids set, in a new version (a dataset version here never
    changes once written, so experiments keep the data they ran on). Ids the dataset lacks are ignored, as
    the client documents; with none left nothing changes."""
    dataset = await dataset_of(request, request.path_params["dataset_id"])
    body: UpdateExamplesBody = decode_body(await read_body(request), UpdateExamplesBody)
    changes: dict[str, dict[str, Any]] = {}
    for n, row in enumerate(body.examples):
        if not isinstance(row.get("id"), str) or not row["id"]:
            raise bad(f"examples[{n}].id: each example names the id of the one it updates")
        changes[row["id"]] = {k: v for k, v in row.items() if k not in ("id", "created_at", "updated_at")}
    evals = evals_of(request)
    updated: list[Example] = []
    after = -1
    while page := await evals.examples(dataset.id, after=after):
        for _, e in page:
            if e.id in changes:
                columns = dict(e.input) if isinstance(e.input, dict) else {"input": e.input}
                updated.append(msgspec.structs.replace(e, input=columns | changes[e.id]))
        after = page[-1][0]
    d = await evals.replace_examples(dataset.id, updated) if updated else dataset
    return json_response(DatasetVersionWithExampleIds(
        id=mint("Dataset", d.id), name=d.name, space_id=_space(d.name), created_at=iso(d.created_at),
        updated_at=iso(d.updated_at), dataset_version_id=mint("DatasetVersion", f"{d.id}:{d.version}"),
        example_ids=[e.id for e in updated],
    ))  # fmt: skip


async def _example_page(request: Request, dataset: Dataset, version_id: str | None, cursor: str | None,
                        limit: int) -> Response:  # fmt: skip
    version = version_of(dataset, version_id) if version_id else dataset.version
    after = int(key_of("Offset", cursor, what="cursor")) - 1 if cursor else -1
    page = await evals_of(request).examples(dataset.id, version, after=after, limit=limit + 1)
    shown = page[:limit]
    rows = [{"id": e.id, "created_at": iso(dataset.created_at), "updated_at": iso(dataset.updated_at),
             **(e.input if isinstance(e.input, dict) else {"input": e.input})} for _, e in shown]  # fmt: skip
    more = len(page) > limit
    nxt = mint("Offset", str(shown[-1][0] + 1)) if more and shown else None
    return json_response(ExamplePage(examples=rows, pagination=Pagination(has_more=more, next_cursor=nxt)))


async def list_examples(request: Request) -> Response:
    dataset = await dataset_of(request, request.path_params["dataset_id"])
    q = request.query_params
    limit = limit_of(request, high=MAX_REST)
    return await _example_page(request, dataset, q.get("dataset_version_id"), q.get("cursor"), limit)


async def search_examples(request: Request) -> Response:
    dataset = await dataset_of(request, request.path_params["dataset_id"])
    body: SearchExamplesBody = decode_body(await read_body(request), SearchExamplesBody)
    if body.filter and body.filter.strip():
        raise bad("filter: this server does not filter examples; page through them without one")
    if body.limit is not None and not 1 <= body.limit <= MAX_REST:
        raise bad(f"limit: from 1 to {MAX_REST}")
    return await _example_page(request, dataset, body.dataset_version_id, body.cursor, body.limit or 50)


# -- experiments ----------------------------------------------------------------------------------------------
async def experiment_run(request: Request, raw: str) -> Run:
    try:
        run: Run = await request.app.state.service.get_run(key_of("Experiment", raw, what="experiment"))
    except NotFoundError:
        raise ApiError(404, f"experiment not found: {raw}") from None
    if EXPERIMENT_TAG not in run.tags or run.task != SUITE_TASK:
        raise ApiError(404, f"experiment not found: {raw}")
    return run


async def _experiments(request: Request, dataset_id: str | None) -> list[Run]:
    """Every experiment (of a dataset), newest first."""
    tag = f"dataset:{dataset_id}" if dataset_id else EXPERIMENT_TAG
    found: list[Run] = []
    after = None
    while True:
        page = await request.app.state.service.list_runs(
            ListRunsParams(tags=[tag], tasks=[SUITE_TASK], limit=1000, after=after)
        )
        found += [r for r in page.runs if EXPERIMENT_TAG in r.tags]
        if page.next_cursor is None:
            return found
        after = page.next_cursor


def experiment_key(dataset_id: str, name: str) -> str:
    """The key that keeps experiment names unique within a dataset (while an experiment of it has not failed)."""
    return f"experiment:{dataset_id}:{hashlib.sha256(name.encode()).hexdigest()[:32]}"


def render_experiment(run: Run) -> ExperimentOut:
    meta = run.metadata or {}
    dataset = next((t[8:] for t in run.tags if t.startswith("dataset:")), None)
    version = meta.get("dataset_version")
    return ExperimentOut(
        id=mint("Experiment", run.id), name=str(meta.get("experiment_name", "")), space_id=mint("Space", "default"),
        dataset_id=mint("Dataset", dataset) if dataset else None,
        dataset_version_id=mint("DatasetVersion", f"{dataset}:{version}") if dataset and version else None,
        created_at=iso(run.created_at), updated_at=iso(run.updated_at),
    )  # fmt: skip


async def create_experiment(request: Request) -> Response:
    """An experiment from outputs computed elsewhere (the client runs its task): an evaluation run of the
    dataset's examples whose outputs are given, so it calls nothing and only records them."""
    body: CreateExperimentBody = decode_body(await read_body(request), CreateExperimentBody)
    if body.dataset_id is None:
        raise bad("dataset_id: this server keeps experiments of datasets only")
    dataset = await dataset_of(request, body.dataset_id)
    evals = evals_of(request)
    examples: dict[str, Example] = {}
    after = -1
    while page := await evals.examples(dataset.id, after=after):
        examples.update((e.id, e) for _, e in page)
        after = page[-1][0]
    items = []
    for n, raw in enumerate(body.experiment_runs):
        try:
            run_in = msgspec.convert(raw, ExperimentRunInput)
        except msgspec.ValidationError as exc:
            raise bad(f"experiment_runs[{n}]: {exc}") from None
        example = examples.get(run_in.example_id or "")
        if example is None:
            raise bad(f"experiment_runs[{n}].example_id: the dataset has no example {run_in.example_id!r}")
        extra = {k: v for k, v in raw.items() if k not in ("example_id", "output")}
        items.append(Item(id=example.id, input=example.input, expected=example.expected, output=run_in.output,
                          metadata=extra or None))  # fmt: skip
    meta = {"source": "experiment", "experiment_name": body.name, "dataset_version": dataset.version}
    try:
        run = await evals.start(SUITE_TASK, EvaluationSpec(items=items), tags=[EXPERIMENT_TAG, f"dataset:{dataset.id}"],
                                metadata=meta, unique_key=experiment_key(dataset.id, body.name))  # fmt: skip
    except ConflictError:
        raise ApiError(409, f"name: the dataset has an experiment named {body.name!r}") from None
    out = render_experiment(run)
    run_ids = [mint("ExperimentRun", f"{run.id}:{n}") for n in range(len(items))]
    return json_response(ExperimentWithRunIds(**msgspec.structs.asdict(out), run_ids=run_ids), 201)


async def list_experiments(request: Request) -> Response:
    raw = request.query_params.get("dataset_id")
    dataset = (await dataset_of(request, raw)).id if raw else None
    runs = await _experiments(request, dataset)
    offset, limit = offset_of(request), limit_of(request)
    shown = [render_experiment(r) for r in runs[offset : offset + limit]]
    return json_response(ExperimentPage(experiments=shown, pagination=offset_page(offset, len(shown), len(runs))))


async def get_experiment(request: Request) -> Response:
    return json_response(render_experiment(await experiment_run(request, request.path_params["experiment_id"])))


async def _run_page(request: Request, offset: int, limit: int) -> Response:
    """Each item of the experiment: its example, output (given, or generated once the run got to it), error,
    and its evaluators' results as eval.<name>.score / .label / .explanation."""
    run = await experiment_run(request, request.path_params["experiment_id"])
    spec = msgspec.json.decode(run.payload, type=EvaluationSpec)
    results = {r.index: r for r in await evals_of(request).results(run.id, after=offset - 1, limit=limit)}
    rows = []
    for index in range(offset, min(offset + limit, len(spec.items))):
        item, result = spec.items[index], results.get(index)
        output = result.output if result is not None else (None if item.output is msgspec.UNSET else item.output)
        row: dict[str, Any] = {
            "id": mint("ExperimentRun", f"{run.id}:{index}"), "example_id": item.id,
            "output": output if output is None or isinstance(output, str) else msgspec.json.encode(output).decode(),
            "error": result.error if result is not None and result.status is ItemStatus.ERROR else None,
        }  # fmt: skip
        for score in result.scores if result is not None else []:
            row[f"eval.{score.evaluator}.score"] = score.score
            row[f"eval.{score.evaluator}.label"] = score.label
            row[f"eval.{score.evaluator}.explanation"] = score.explanation
        rows.append(row)
    page = offset_page(offset, len(rows), len(spec.items))
    return json_response(ExperimentRunPage(experiment_runs=rows, pagination=page))


async def list_experiment_runs(request: Request) -> Response:
    return await _run_page(request, offset_of(request), limit_of(request, high=MAX_REST))


async def search_experiment_runs(request: Request) -> Response:
    body: SearchExamplesBody = decode_body(await read_body(request), SearchExamplesBody)
    if body.filter and body.filter.strip():
        raise bad("filter: this server does not filter experiment runs; page through them without one")
    if body.limit is not None and not 1 <= body.limit <= MAX_REST:
        raise bad(f"limit: from 1 to {MAX_REST}")
    offset = int(key_of("Offset", body.cursor, what="cursor")) if body.cursor else 0
    return await _run_page(request, offset, body.limit or 50)


# -- projects (whatever sends spans: OTLP's openinference.project.name or service.name) -------------------------
class ProjectOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    space_id: str | None
    created_at: str | None


class ProjectPage(msgspec.Struct, kw_only=True):
    projects: list[ProjectOut]
    pagination: Pagination


def project_name(project_id: str) -> str | None:
    """The project an id names, or None for an id of another kind (whose tasks then see no spans)."""
    try:
        return key_of("Project", project_id)
    except ApiError:
        return None


def _project(p: SpanProject) -> ProjectOut:
    return ProjectOut(id=mint("Project", p.name), name=p.name, space_id=mint("Space", "default"),
                      created_at=iso(p.created_at))  # fmt: skip


async def list_projects(request: Request) -> Response:
    offset, limit = offset_of(request), limit_of(request)
    projects = await evals_of(request).projects()
    shown = [_project(p) for p in projects[offset : offset + limit]]
    return json_response(ProjectPage(projects=shown, pagination=offset_page(offset, len(shown), len(projects))))


async def get_project(request: Request) -> Response:
    raw = request.path_params["project_id"]
    name = key_of("Project", raw, what="project")
    for p in await evals_of(request).projects():
        if p.name == name:
            return json_response(_project(p))
    raise ApiError(404, f"project not found: {raw} (a project exists once spans of it arrive at /v1/traces)")


_ID, _AUTH, _WRITE, _PAGE_Q, _PAGE_S = ID_SCHEMA, AUTH_ERRORS, WRITE_ERRORS, PAGE_QUERY, PAGE_SCHEMAS
ENDPOINTS = [
    Endpoint("POST", "/v2/datasets", create_dataset, f"Create a dataset with 1 to {MAX_REST} examples", "arize",
             body=CreateDatasetBody, response=DatasetOut, status=201,
             errors={**_WRITE, 409: "a dataset of that name exists"}),
    Endpoint("GET", "/v2/datasets", list_datasets, "List datasets (oldest first)", "arize", response=DatasetPage,
             query={**_PAGE_Q, "name": "Part of the name, any case"}, schemas=_PAGE_S,
             errors={**_AUTH, 400: "invalid limit or cursor"}),
    Endpoint("GET", "/v2/datasets/{dataset_id}", get_dataset, "Get a dataset and its versions", "arize",
             response=DatasetOut, schemas={"dataset_id": _ID}, errors={**_AUTH, 404: "no such dataset"}),
    Endpoint("DELETE", "/v2/datasets/{dataset_id}", delete_dataset, "Delete a dataset and its versions (its "
             "experiments stay)", "arize", status=204, schemas={"dataset_id": _ID},
             errors={**_AUTH, 404: "no such dataset"}),
    Endpoint("POST", "/v2/datasets/{dataset_id}/examples", append_examples, "Append examples (a new version)",
             "arize", body=ExamplesBody, response=DatasetVersionWithExampleIds, status=201,
             schemas={"dataset_id": _ID}, errors={**_WRITE, 404: "no such dataset"}),
    Endpoint("PATCH", "/v2/datasets/{dataset_id}/examples", update_examples, "Update examples by id (a new "
             "version)", "arize", body=UpdateExamplesBody, response=DatasetVersionWithExampleIds,
             schemas={"dataset_id": _ID}, errors={**_WRITE, 404: "no such dataset"}),
    Endpoint("GET", "/v2/datasets/{dataset_id}/examples", list_examples, "List a dataset version's examples",
             "arize", response=ExamplePage,
             query={"limit": f"Page size, 1 to {MAX_REST} (default 50)", "cursor": "next_cursor of the previous page",
                    "dataset_version_id": "Version (default: newest)"},
             schemas={"dataset_id": _ID, "limit": {"type": "integer", "minimum": 1, "maximum": MAX_REST}},
             errors={**_AUTH, 400: "invalid limit or cursor", 404: "no such dataset or version"}),
    Endpoint("POST", "/v2/datasets/{dataset_id}/examples/search", search_examples,
             "Page through a dataset version's examples (no filter)", "arize", body=SearchExamplesBody,
             response=ExamplePage, schemas={"dataset_id": _ID},
             errors={**_WRITE, 404: "no such dataset or version"}),
    Endpoint("POST", "/v2/experiments", create_experiment, f"Create an experiment with 1 to {MAX_REST} runs",
             "arize", body=CreateExperimentBody, response=ExperimentWithRunIds, status=201,
             errors={**_WRITE, 404: "no such dataset", 409: "the dataset has an experiment of that name"}),
    Endpoint("GET", "/v2/experiments", list_experiments, "List experiments (newest first)", "arize",
             response=ExperimentPage, query={**_PAGE_Q, "dataset_id": "Only experiments of this dataset"},
             schemas=_PAGE_S, errors={**_AUTH, 400: "invalid limit or cursor", 404: "no such dataset"}),
    Endpoint("GET", "/v2/experiments/{experiment_id}", get_experiment, "Get an experiment", "arize",
             response=ExperimentOut, schemas={"experiment_id": _ID}, errors={**_AUTH, 404: "no such experiment"}),
    Endpoint("GET", "/v2/experiments/{experiment_id}/runs", list_experiment_runs,
             "List an experiment's runs with their evaluations", "arize", response=ExperimentRunPage,
             query={"limit": f"Page size, 1 to {MAX_REST} (default 50)", "cursor": "next_cursor of the previous page"},
             schemas={"experiment_id": _ID, "limit": {"type": "integer", "minimum": 1, "maximum": MAX_REST}},
             errors={**_AUTH, 400: "invalid limit or cursor", 404: "no such experiment"}),
    Endpoint("POST", "/v2/experiments/{experiment_id}/runs/search", search_experiment_runs,
             "Page through an experiment's runs (no filter)", "arize", body=SearchExamplesBody,
             response=ExperimentRunPage, schemas={"experiment_id": _ID}, errors={**_WRITE, 404: "no such experiment"}),
    Endpoint("GET", "/v2/projects", list_projects, "List projects (those that have sent spans)", "arize",
             response=ProjectPage, query=_PAGE_Q, schemas=_PAGE_S, errors={**_AUTH, 400: "invalid limit or cursor"}),
    Endpoint("GET", "/v2/projects/{project_id}", get_project, "Get a project", "arize", response=ProjectOut,
             schemas={"project_id": _ID}, errors={**_AUTH, 404: "no such project"}),
]  # fmt: skip
