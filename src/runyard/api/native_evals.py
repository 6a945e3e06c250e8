"""runyard's own evaluation API under /v1: datasets (create, append a version, read examples), and an
evaluation run's counts and item results. Errors are problem+json like the rest of /v1."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.common import ApiError, Endpoint, decode_body, int_schema, json_response, parse_int, read_body
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
