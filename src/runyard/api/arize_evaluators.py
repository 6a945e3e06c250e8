"""Arize AX v2 evaluators: the engine's named evaluators, each change a version. TEMPLATE evaluators are LLM
judges; CODE evaluators are Arize's managed ones (custom Python source is refused: runyard does not run code
sent over the API)."""

from __future__ import annotations

import hashlib

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.arize_wire import (
    AUTH_ERRORS,
    ID_SCHEMA,
    PAGE_QUERY,
    PAGE_SCHEMAS,
    WRITE_ERRORS,
    CreateEvaluatorBody,
    EvaluatorOut,
    EvaluatorPage,
    EvaluatorVersionOut,
    Pagination,
    VersionBody,
    bad,
    check_id,
    engine_evaluator,
    enum_in,
    evals_of,
    iso,
    key_of,
    limit_of,
    mint,
    offset_of,
    offset_page,
)
from runyard.api.common import ApiError, Endpoint, decode_body, json_response, read_body
from runyard.errors import NotFoundError
from runyard.evals.spec import EvaluatorVersion, NamedEvaluator


# -- evaluators -------------------------------------------------------------------------------------------------
async def named_evaluator(request: Request, raw: str) -> NamedEvaluator:
    try:
        return await evals_of(request).evaluator(key_of("Evaluator", raw, what="evaluator"))
    except NotFoundError:
        raise ApiError(404, f"evaluator not found: {raw}") from None


def evaluator_version(found: NamedEvaluator, raw: str | None) -> EvaluatorVersion:
    if raw is None:
        current = found.current
        if current is None:
            raise bad(f"evaluator {found.name!r} has no version")
        return current
    owner, _, number = key_of("EvaluatorVersion", raw, what="evaluator version").rpartition(":")
    for version in found.versions:
        if owner == found.id and str(version.version) == number:
            return version
    raise ApiError(404, f"evaluator version not found: {raw}")


def render_version(found: NamedEvaluator, v: EvaluatorVersion) -> EvaluatorVersionOut:
    config = {k: v for k, v in v.attributes.items() if k in ("template_config", "code_config")}
    digest = hashlib.sha256(msgspec.json.encode(v.attributes)).hexdigest()[:12]
    return EvaluatorVersionOut(
        id=mint("EvaluatorVersion", f"{found.id}:{v.version}"), evaluator_id=mint("Evaluator", found.id),
        type=found.kind.upper(), commit_hash=digest, commit_message=v.message, created_at=iso(v.created_at),
        **config,
    )  # fmt: skip


def render_evaluator(found: NamedEvaluator, version: EvaluatorVersion | None) -> EvaluatorOut:
    space = found.versions[0].attributes.get("space_id") if found.versions else None
    return EvaluatorOut(
        id=mint("Evaluator", found.id), name=found.name, description=found.description or None,
        type=found.kind.upper(), space_id=space, created_at=iso(found.created_at), updated_at=iso(found.updated_at),
        version=render_version(found, version) if version is not None else None,
    )  # fmt: skip


def _version(body: VersionBody, kind: str, space_id: str | None) -> EvaluatorVersion:
    evaluator = engine_evaluator(body, "template" if kind == "template" else "code")
    if not 1 <= len(body.commit_message) <= 1000:
        raise bad("version.commit_message: 1 to 1000 characters")
    attributes = msgspec.to_builtins(body)
    attributes.pop("commit_message", None)
    if space_id is not None:
        attributes["space_id"] = space_id
    return EvaluatorVersion(version=0, evaluator=evaluator, attributes=attributes, message=body.commit_message)


async def create_evaluator(request: Request) -> Response:
    body: CreateEvaluatorBody = decode_body(await read_body(request), CreateEvaluatorBody)
    check_id("space_id", body.space_id)
    kind = enum_in("type", body.type, ("template", "code", "harness", "remote"))
    if kind not in ("template", "code"):
        raise bad(f"type: this server runs TEMPLATE and CODE evaluators, not {kind.upper()}")
    if not 1 <= len(body.name) <= 255:
        raise bad("name: 1 to 255 characters")
    version = _version(body.version, kind, body.space_id)
    evals = evals_of(request)
    created = await evals.create_evaluator(body.name, body.description or "", kind)
    found = await evals.add_evaluator_version(created.id, version)
    return json_response(render_evaluator(found, found.current), 201)


async def get_evaluator(request: Request) -> Response:
    found = await named_evaluator(request, request.path_params["evaluator_id"])
    version = evaluator_version(found, request.query_params.get("version_id")) if found.versions else None
    return json_response(render_evaluator(found, version))


async def list_evaluators(request: Request) -> Response:
    offset, limit = offset_of(request), limit_of(request)
    found, total = await evals_of(request).evaluators(skip=offset, limit=limit)
    shown = [render_evaluator(f, None) for f in found]
    return json_response(EvaluatorPage(evaluators=shown, pagination=offset_page(offset, len(shown), total)))


async def add_version(request: Request) -> Response:
    found = await named_evaluator(request, request.path_params["evaluator_id"])
    body: VersionBody = decode_body(await read_body(request), VersionBody)
    space = found.versions[0].attributes.get("space_id") if found.versions else None
    grown = await evals_of(request).add_evaluator_version(found.id, _version(body, found.kind, space))
    assert grown.current is not None
    return json_response(render_version(grown, grown.current), 201)


class EvaluatorVersionPage(msgspec.Struct, kw_only=True):
    evaluator_versions: list[EvaluatorVersionOut]
    pagination: Pagination


async def list_versions(request: Request) -> Response:
    found = await named_evaluator(request, request.path_params["evaluator_id"])
    offset, limit = offset_of(request), limit_of(request)
    newest_first = found.versions[::-1]
    shown = [render_version(found, v) for v in newest_first[offset : offset + limit]]
    page = offset_page(offset, len(shown), len(newest_first))
    return json_response(EvaluatorVersionPage(evaluator_versions=shown, pagination=page))


async def delete_evaluator(request: Request) -> Response:
    found = await named_evaluator(request, request.path_params["evaluator_id"])
    await evals_of(request).delete_evaluator(found.id)
    return Response(status_code=204)


_ID, _AUTH, _WRITE, _PAGE_Q, _PAGE_S = ID_SCHEMA, AUTH_ERRORS, WRITE_ERRORS, PAGE_QUERY, PAGE_SCHEMAS
ENDPOINTS = [
    Endpoint("POST", "/v2/evaluators", create_evaluator, "Create an evaluator with its first version", "arize",
             body=CreateEvaluatorBody, response=EvaluatorOut, status=201,
             errors={**_WRITE, 409: "an evaluator of that name exists"}),
    Endpoint("GET", "/v2/evaluators", list_evaluators, "List evaluators", "arize", response=EvaluatorPage,
             query=_PAGE_Q, schemas=_PAGE_S, errors={**_AUTH, 400: "invalid limit or cursor"}),
    Endpoint("GET", "/v2/evaluators/{evaluator_id}", get_evaluator, "Get an evaluator at a version", "arize",
             response=EvaluatorOut, query={"version_id": "Version (default: newest)"},
             schemas={"evaluator_id": _ID}, errors={**_AUTH, 404: "no such evaluator or version"}),
    Endpoint("DELETE", "/v2/evaluators/{evaluator_id}", delete_evaluator, "Delete an evaluator", "arize",
             status=204, schemas={"evaluator_id": _ID}, errors={**_AUTH, 404: "no such evaluator"}),
    Endpoint("GET", "/v2/evaluators/{evaluator_id}/versions", list_versions, "List an evaluator's versions (newest "
             "first)", "arize", response=EvaluatorVersionPage, query=_PAGE_Q, schemas={"evaluator_id": _ID, **_PAGE_S},
             errors={**_AUTH, 400: "invalid limit or cursor", 404: "no such evaluator"}),
    Endpoint("POST", "/v2/evaluators/{evaluator_id}/versions", add_version, "Add a version to an evaluator",
             "arize", body=VersionBody, response=EvaluatorVersionOut, status=201, schemas={"evaluator_id": _ID},
             errors={**_WRITE, 404: "no such evaluator", 409: "a version was added meanwhile"}),
]  # fmt: skip
