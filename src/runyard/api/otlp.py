"""OTLP/HTTP trace ingestion: `POST /v1/traces`, as the standard OpenTelemetry exporters send it, in protobuf
(`application/x-protobuf`, the default of `opentelemetry-exporter-otlp-proto-http`) or JSON, optionally
gzip-compressed. Spans land in the engine's span store per project: the resource attribute
`openinference.project.name` (what Arize/OpenInference tracing sets), else `service.name`, else "default".

The protobuf reader decodes only what a span needs, from the wire format itself (varints, fixed64 and
length-delimited fields of opentelemetry-proto's trace.proto and common.proto), so no protobuf runtime is a
dependency of the server. Unknown fields are skipped, as protobuf readers do.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.common import ApiError, Endpoint, read_body
from runyard.evals.spec import Span

PROTOBUF = "application/x-protobuf"
PROJECT_KEYS = ("openinference.project.name", "service.name")
MAX_DEPTH = 8  # nested arrays / key-value lists in one attribute value


class WireError(ValueError):
    pass


# -- protobuf ---------------------------------------------------------------------------------------------------
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise WireError("a truncated or overlong varint")
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: ints for varints and fixed64, bytes for the rest."""
    i, end = 0, len(buf)
    while i < end:
        key, i = _varint(buf, i)
        field, kind = key >> 3, key & 7
        value: Any
        if kind == 0:
            value, i = _varint(buf, i)
        elif kind == 1:
            if i + 8 > end:
                raise WireError("a truncated fixed64")
            value, i = int.from_bytes(buf[i : i + 8], "little"), i + 8
        elif kind == 2:
            size, i = _varint(buf, i)
            if i + size > end:
                raise WireError("a truncated length-delimited field")
            value, i = buf[i : i + size], i + size
        elif kind == 5:
            if i + 4 > end:
                raise WireError("a truncated fixed32")
            value, i = buf[i : i + 4], i + 4
        else:
            raise WireError(f"wire type {kind} is not valid here")
        yield field, kind, value


def _text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise WireError("a string field of the wrong wire type")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise WireError("a string field that is not UTF-8") from None


def _any_value(buf: bytes, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("attribute values nested too deeply")
    for field, _, value in _fields(buf):
        if field == 1:
            return _text(value)
        if field == 2:
            return bool(value)
        if field == 3:
            return value - (1 << 64) if value >= 1 << 63 else value
        if field == 4:
            return struct.unpack("<d", value.to_bytes(8, "little"))[0]
        if field == 5:
            return [_any_value(v, depth + 1) for f, _, v in _fields(value) if f == 1]
        if field == 6:
            return dict(_key_value(v, depth + 1) for f, _, v in _fields(value) if f == 1)
        if field == 7:
            return bytes(value).hex()
    return None


def _key_value(buf: bytes, depth: int = 0) -> tuple[str, Any]:
    key, val = "", None
    for field, _, value in _fields(buf):
        if field == 1:
            key = _text(value)
        elif field == 2:
            val = _any_value(value, depth)
    return key, val


def _span(buf: bytes, project: str) -> Span:
    out: dict[str, Any] = {"project": project, "trace_id": "", "span_id": "", "name": "", "start_us": 0, "end_us": 0}
    attributes: dict[str, Any] = {}
    for field, _, value in _fields(buf):
        if field == 1:
            out["trace_id"] = bytes(value).hex()
        elif field == 2:
            out["span_id"] = bytes(value).hex()
        elif field == 4:
            out["parent_span_id"] = bytes(value).hex()
        elif field == 5:
            out["name"] = _text(value)
        elif field == 6:
            out["kind"] = value
        elif field == 7:
            out["start_us"] = value // 1000
        elif field == 8:
            out["end_us"] = value // 1000
        elif field == 9:
            key, val = _key_value(value)
            attributes[key] = val
        elif field == 15:
            for f, _, v in _fields(value):
                if f == 2:
                    out["status_message"] = _text(v)
                elif f == 3:
                    out["status_code"] = v
    return Span(**out, attributes=attributes)


def _project(attributes: dict[str, Any]) -> str:
    for key in PROJECT_KEYS:
        if isinstance(attributes.get(key), str) and attributes[key]:
            return str(attributes[key])
    return "default"


def decode_protobuf(buf: bytes) -> list[Span]:
    """The spans of an ExportTraceServiceRequest (or TracesData: the same fields)."""
    spans: list[Span] = []
    for field, _, resource_spans in _fields(buf):
        if field != 1:
            continue
        resource: dict[str, Any] = {}
        scopes: list[bytes] = []
        for f, _, value in _fields(resource_spans):
            if f == 1:
                resource = dict(_key_value(v) for ff, _, v in _fields(value) if ff == 1)
            elif f == 2:
                scopes.append(value)
        project = _project(resource)
        for scope in scopes:
            spans += [_span(v, project) for f, _, v in _fields(scope) if f == 2]
    return spans


# -- JSON (the protobuf's JSON mapping: camelCase names, hex ids, 64-bit integers as strings) -------------------
def _json_value(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH or not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_json_value(v, depth + 1) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _json_attributes((value["kvlistValue"] or {}).get("values", []), depth + 1)
    if "bytesValue" in value:
        return str(value["bytesValue"])
    return None


def _json_attributes(items: Any, depth: int = 0) -> dict[str, Any]:
    if not isinstance(items, list):
        raise WireError("attributes must be a list of {key, value}")
    return {str(kv.get("key", "")): _json_value(kv.get("value"), depth) for kv in items if isinstance(kv, dict)}


def decode_json(raw: bytes) -> list[Span]:
    try:
        body = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise WireError("the body is not JSON") from None
    spans: list[Span] = []
    try:
        for rs in body.get("resourceSpans") or []:
            project = _project(_json_attributes((rs.get("resource") or {}).get("attributes") or []))
            for scope in rs.get("scopeSpans") or []:
                for s in scope.get("spans") or []:
                    status = s.get("status") or {}
                    spans.append(Span(
                        project=project, trace_id=str(s.get("traceId", "")).lower(),
                        span_id=str(s.get("spanId", "")).lower(), parent_span_id=str(s.get("parentSpanId", "")).lower(),
                        name=str(s.get("name", "")), kind=int(s.get("kind", 0) or 0),
                        start_us=int(s.get("startTimeUnixNano", 0) or 0) // 1000,
                        end_us=int(s.get("endTimeUnixNano", 0) or 0) // 1000,
                        attributes=_json_attributes(s.get("attributes") or []),
                        status_code=int(status.get("code", 0) or 0), status_message=str(status.get("message", "")),
                    ))  # fmt: skip
    except (AttributeError, TypeError, ValueError) as exc:
        raise WireError(f"not an OTLP trace export: {exc}") from None
    return spans


def _inflate(raw: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise ApiError(400, "the body is not valid gzip") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(413, f"the decompressed body is larger than the limit of {limit} bytes")
    return out


async def export_traces(request: Request) -> Response:
    raw = await read_body(request)
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding == "gzip":
        raw = _inflate(raw, request.app.state.max_body_bytes)
    elif encoding not in ("", "identity"):
        raise ApiError(415, f"content-encoding {encoding!r} is not supported (gzip is)")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == PROTOBUF:
            spans = decode_protobuf(raw)
        elif kind == "application/json":
            spans = decode_json(raw)
        else:
            raise ApiError(415, f"send {PROTOBUF} or application/json, not {kind or 'no content type'}")
    except WireError as exc:
        raise ApiError(400, f"not a valid OTLP trace export: {exc}") from None
    except RecursionError:
        raise ApiError(400, "not a valid OTLP trace export: nested too deeply") from None
    await request.app.state.service.evaluations.ingest_spans(spans)
    if kind == PROTOBUF:
        return Response(b"", media_type=PROTOBUF)  # an empty ExportTraceServiceResponse: all accepted
    return Response(b"{}", media_type="application/json")


class ExportTraceServiceRequest(msgspec.Struct, kw_only=True):
    """OTLP/HTTP JSON: {resourceSpans: [{resource: {attributes}, scopeSpans: [{spans: [...]}]}]}; the same
    message in protobuf with content-type application/x-protobuf."""

    resourceSpans: list[dict[str, Any]] = []


ENDPOINTS = [
    Endpoint("POST", "/v1/traces", export_traces, "Receive trace spans (OTLP/HTTP, protobuf or JSON, gzip)",
             "evaluations", body=ExportTraceServiceRequest,
             errors={400: "not an OTLP trace export", 413: "the body is over the server's limit",
                     415: "a content type other than protobuf or JSON, or an unknown content encoding"}),
]  # fmt: skip
