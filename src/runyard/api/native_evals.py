"""runyard's own evaluation API under /v1: datasets (create, append a version, read examples), and an
evaluation run's counts and item results. Errors are problem+json like the rest of /v1."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.common import ApiError, Endpoint, decode_body, int_schema, json_response, parse_int, read_body
from runyard.evals.apps import Application
from runyard.evals.spec import MAX_ITEMS, Counts, Dataset, Example, ItemResult
from runyard.service import Service

MAX_PAGE = 1000


class DatasetBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    examples: list[Example] = []


class ExamplesBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    examples: list[Example]


class IndexedExample(msgspec.Struct, kw_only=True):
    position: int
    example: Example


class ExamplePage(msgspec.Struct, kw_only=True):
    version: int
    examples: list[IndexedExample]
    next_after: int | None = None  # pass as `after` for the next page


class DatasetList(msgspec.Struct, kw_only=True):
    datasets: list[Dataset]
    total: int


class ApplicationOut(msgspec.Struct, kw_only=True):
    """An application under test from runyard.toml (its secret is never shown: only whether it has one)."""

    id: str
    title: str
    webhook_url: str
    signs_requests: bool
    slug: str
    description: str
    kind: str
    environment: str


class ApplicationList(msgspec.Struct, kw_only=True):
    applications: list[ApplicationOut]


class Evaluation(msgspec.Struct, kw_only=True):
    run_id: str
    counts: Counts
    results: list[ItemResult]
    next_after: int | None = None


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return parse_int(raw, low, high)
    except ValueError as exc:
        raise ApiError(400, f"{name}: {exc}") from None


async def create_dataset(request: Request) -> Response:
    body: DatasetBody = decode_body(await read_body(request), DatasetBody)
    dataset = await _service(request).evaluations.create_dataset(body.name, body.examples)
    return json_response(dataset, 201)


async def append_examples(request: Request) -> Response:
    body: ExamplesBody = decode_body(await read_body(request), ExamplesBody)
    dataset = await _service(request).evaluations.append_examples(str(request.path_params["id"]), body.examples)
    return json_response(dataset)


async def list_datasets(request: Request) -> Response:
    skip = _int(request, "skip", 0, 0, 10**9) or 0
    limit = _int(request, "limit", 50, 1, MAX_PAGE) or 50
    found, total = await _service(request).evaluations.datasets(
        name=request.query_params.get("name"), skip=skip, limit=limit
    )
    return json_response(DatasetList(datasets=found, total=total))


def _application(app: Application) -> ApplicationOut:
    return ApplicationOut(
        id=app.id, title=app.title, webhook_url=app.webhook_url, signs_requests=bool(app.secret), slug=app.slug,
        description=app.description, kind=app.kind, environment=app.environment,
    )  # fmt: skip


async def list_applications(request: Request) -> Response:
    apps = _service(request).evaluations.applications.values()
    return json_response(ApplicationList(applications=[_application(a) for a in apps]))


async def get_application(request: Request) -> Response:
    return json_response(_application(_service(request).evaluations.application(str(request.path_params["id"]))))


async def get_dataset(request: Request) -> Response:
    return json_response(await _service(request).evaluations.dataset(str(request.path_params["id"])))


async def list_examples(request: Request) -> Response:
    dataset_id = str(request.path_params["id"])
    evals = _service(request).evaluations
    version = _int(request, "version", None, 1, 1_000_000_000)
    after = _int(request, "after", -1, -1, MAX_ITEMS)
    limit = _int(request, "limit", 100, 1, MAX_PAGE) or 100
    if version is None:
        version = (await evals.dataset(dataset_id)).version
    found = await evals.examples(dataset_id, version, after=-1 if after is None else after, limit=limit)
    page = [IndexedExample(position=p, example=e) for p, e in found]
    return json_response(
        ExamplePage(version=version, examples=page, next_after=page[-1].position if len(page) == limit else None)
    )


async def evaluation(request: Request) -> Response:
    run_id = str(request.path_params["id"])
    evals = _service(request).evaluations
    after = _int(request, "after", -1, -1, MAX_ITEMS)
    limit = _int(request, "limit", 100, 1, MAX_PAGE) or 100
    results = await evals.results(run_id, after=-1 if after is None else after, limit=limit)
    next_after = results[-1].index if len(results) == limit else None
    return json_response(
        Evaluation(run_id=run_id, counts=await evals.counts(run_id), results=results, next_after=next_after)
    )


_PAGE = {"after": "Position (index) to read after", "limit": f"Page size, 1 to {MAX_PAGE}"}
_S_PAGE = {"after": int_schema(-1, MAX_ITEMS), "limit": int_schema(1, MAX_PAGE)}
ENDPOINTS = [
    Endpoint("GET", "/v1/applications", list_applications, "Applications under test (from runyard.toml)",
             "evaluations", response=ApplicationList),
    Endpoint("GET", "/v1/applications/{id}", get_application, "An application under test", "evaluations",
             response=ApplicationOut, errors={404: "unknown application"}),
    Endpoint("GET", "/v1/datasets", list_datasets, "List datasets (oldest first)", "evaluations",
             response=DatasetList, query={"skip": "Datasets to skip", "limit": f"Page size, 1 to {MAX_PAGE}",
                                          "name": "Part of the name, any case"},
             schemas={"skip": int_schema(0, 10**9), "limit": int_schema(1, MAX_PAGE)},
             errors={400: "invalid skip or limit"}),
    Endpoint("POST", "/v1/datasets", create_dataset, "Create a dataset (version 1)", "evaluations", body=DatasetBody,
             response=Dataset, status=201, errors={409: "the name is taken", 400: "invalid name or examples"}),
    Endpoint("GET", "/v1/datasets/{id}", get_dataset, "Get a dataset", "evaluations", response=Dataset,
             errors={404: "unknown dataset"}),
    Endpoint("POST", "/v1/datasets/{id}/examples", append_examples, "Append examples: a new version", "evaluations",
             body=ExamplesBody, response=Dataset, errors={404: "unknown dataset", 400: f"over {MAX_ITEMS} examples"}),
    Endpoint("GET", "/v1/datasets/{id}/examples", list_examples, "Read a version's examples", "evaluations",
             response=ExamplePage, query={**_PAGE, "version": "Version (default: the newest)"},
             schemas={**_S_PAGE, "version": int_schema(1, 1_000_000_000)},
             errors={404: "unknown dataset or version"}),
    Endpoint("GET", "/v1/runs/{id}/evaluation", evaluation, "An evaluation run's counts and item results",
             "evaluations", response=Evaluation, query=_PAGE, schemas=_S_PAGE,
             errors={404: "unknown run"}),
]  # fmt: skip
