"""The OpenAPI 3.1 document, generated from the dialects' endpoints and their msgspec types."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from runyard.api.dialect import Dialect

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def operation_id(dialect: Dialect, ep: Any) -> str:
    """Unique in the document: the dialect, the method and the handler."""
    return f"{re.sub(r'[^a-z0-9]', '', dialect.name)}_{ep.method.lower()}_{ep.handler.__name__}"


def _ref(method: str, path: str) -> str:
    pointer = _PARAM.sub(r"{\1}", path).replace("~", "~0").replace("/", "~1")
    return f"#/paths/{pointer}/{method.lower()}"


def build_openapi(dialects: Sequence[Dialect], version: str) -> dict[str, Any]:
    types: list[Any] = []
    for dialect in dialects:
        for t in (dialect.error_schema, *(t for ep in dialect.endpoints for t in (ep.body, ep.response))):
            if t is not None and t not in types:
                types.append(t)
    schemas, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    by_type = dict(zip(types, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for dialect, ep in ((d, ep) for d in dialects for ep in d.endpoints):
        path = _PARAM.sub(r"{\1}", ep.path)
        error_schema, error_type = by_type[dialect.error_schema], dialect.error_media_type
        success: dict[str, Any] = {"description": "Success"}
        if ep.response is not None:
            success["content"] = {ep.content_type: {"schema": by_type[ep.response]}}
        if ep.links:
            success["links"] = {
                name: {"operationRef": _ref(method, target), "parameters": params}
                for name, (method, target, params) in ep.links.items()
            }
        op: dict[str, Any] = {
            "summary": ep.summary,
            "operationId": operation_id(dialect, ep),
            "tags": [ep.tag],
            "responses": {
                str(ep.status): success,
                **{str(status): {**success, "description": when} for status, when in ep.also.items()},
                **{
                    str(status): {"description": when, "content": {error_type: {"schema": error_schema}}}
                    for status, when in sorted(ep.errors.items())
                },
                "default": {"description": "Error", "content": {error_type: {"schema": error_schema}}},
            },
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": ep.schemas.get(name, {"type": "string"})}
            for name in _PARAM.findall(ep.path)
        ]
        params += [
            {"name": name, "in": "query", "required": False, "description": desc,
             "schema": ep.schemas.get(name, {"type": "string"})}
            for name, desc in ep.query.items()
        ]  # fmt: skip
        if params:
            op["parameters"] = params
        if ep.body is not None:
            required = any(f.required for f in msgspec.structs.fields(ep.body))
            op["requestBody"] = {"required": required, "content": {"application/json": {"schema": by_type[ep.body]}}}
        if ep.auth:
            also: dict[str, list[str]] = {name: [] for name in dialect.also_headers}
            op["security"] = [{"bearer": [], **also}, {"apiKey": [], **also}]
        paths.setdefault(path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "runyard", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                **{
                    name: {"type": "apiKey", "in": "header", "name": header}
                    for dialect in dialects
                    for name, header in dialect.also_headers.items()
                },
            },
        },
    }


def docs_html(document: dict[str, Any]) -> str:
    """A dependency-free page listing every operation of the document."""
    rows = []
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            lock = "" if op.get("security") else " (no auth)"
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{path}</code></td>"
                        f"<td>{op['summary']}{lock}</td></tr>")  # fmt: skip
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>runyard API</title>"
        "<style>body{font-family:system-ui;margin:2rem}td{padding:.2rem .8rem}</style></head><body>"
        "<h1>runyard API</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p>"
        f"<table>{''.join(rows)}</table></body></html>"
    )
