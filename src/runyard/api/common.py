"""What every dialect's routes share: the endpoint registry, JSON responses, bodies with a size limit,
and the problem+json error shape."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.errors import PayloadTooLarge, RunyardError

Handler = Callable[[Request], Awaitable[Response]]
_encoder = msgspec.json.Encoder()

TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 413: "Request Entity Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error",
}  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    """One route, and everything its OpenAPI operation says (the document is built from these)."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: Any = None  # msgspec type of the JSON body
    response: Any = None  # msgspec type of the success body
    status: int = 200
    auth: bool = True
    query: dict[str, str] = field(default_factory=dict)  # name -> description
    content_type: str = "application/json"
    errors: dict[int, str] = field(default_factory=dict)  # error statuses it answers -> when
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)  # path/query parameter -> its JSON schema
    also: dict[int, str] = field(default_factory=dict)  # other success statuses (same body) -> when
    # OpenAPI links from its success response: name -> (method, path, {parameter: runtime expression}),
    # e.g. {"GetRun": ("GET", "/v1/runs/{id}", {"id": "$response.body#/run/id"})}
    links: dict[str, tuple[str, str, dict[str, str]]] = field(default_factory=dict)
    hot: bool = False  # served before Starlette's router (runyard.api.routing.HotRoutes): the trigger routes


def query(request: Request) -> Mapping[str, str]:
    """The request's query parameters (the last value of a repeated one); no parsing when there is no query."""
    if not request.scope.get("query_string"):
        return _NO_QUERY
    return request.query_params


_NO_QUERY: Mapping[str, str] = MappingProxyType({})


def base_url(request: Request) -> str:
    """`request.base_url` without its trailing slash, remembered per (scheme, host, root path, server)."""
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    server = scope.get("server")
    return _base_url(scope.get("scheme", "http"), host, scope.get("root_path", ""), tuple(server) if server else None)


@functools.lru_cache(maxsize=256)
def _base_url(scheme: str, host: bytes | None, root_path: str, server: tuple[str, int] | None) -> str:
    headers = [] if host is None else [(b"host", host)]
    scope = {"type": "http", "scheme": scheme, "headers": headers, "root_path": root_path, "server": server,
             "path": "/", "query_string": b""}  # fmt: skip
    return str(Request(scope).base_url).rstrip("/")


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(value), status_code=status, media_type="application/json", headers=headers)


class ProblemDetail(msgspec.Struct, kw_only=True):
    location: str | None = None
    message: str
    value: Any = msgspec.UNSET


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """application/problem+json (RFC 9457), as RunWisp and the native API answer errors."""

    schema: str | None = msgspec.field(default=None, name="$schema")
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemDetail] | None = None


def problem(status: int, detail: str, errors: list[ProblemDetail] | None = None) -> Response:
    """An error as application/problem+json (the native and RunWisp shape)."""
    body = Problem(title=TITLES.get(status, "Error"), status=status, detail=detail, errors=errors)
    return Response(_encoder.encode(body), status_code=status, media_type="application/problem+json")


class ApiError(Exception):
    """Raised by handlers; rendered by the app in the shape of the dialect that owns the path."""

    def __init__(self, status: int, message: str, errors: list[ProblemDetail] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def from_engine(exc: RunyardError) -> ApiError:
    return ApiError(exc.status, exc.message)


async def read_body(request: Request) -> bytes:
    """The request body, refusing (413) anything larger than the server's limit without buffering it."""
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length")
    if declared == "0":
        return b""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise from_engine(PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes"))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise from_engine(PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes"))
        chunks.append(chunk)
    return b"".join(chunks)


TOO_DEEP = "the JSON is nested too deeply"
RUN_ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$"}
EPOCH_MS_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 253_402_300_799_999}


def int_schema(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def csv_schema(words: list[str]) -> dict[str, Any]:
    """A comma-separated list of `words` (empty: no filter)."""
    alternatives = "|".join(re.escape(w) for w in words)
    return {"type": "string", "pattern": f"^(({alternatives})(,({alternatives}))*)?$"}


INT64_MAX = 2**63 - 1


def parse_int(raw: str, low: int, high: int) -> int:
    """A query parameter's integer within [low, high] (ASCII digits, optional minus); ValueError otherwise."""
    text = raw.strip()
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19 or not low <= int(text) <= high:
        raise ValueError(f"expected an integer from {low} to {high}")
    return int(text)


def decode_body(raw: bytes, type_: type[Any], *, where: str = "body") -> Any:
    """Decode a JSON body into `type_`; an empty body is `{}`. Bad JSON -> 400, wrong shape -> 422."""
    if not raw.strip():
        raw = b"{}"
    try:
        return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        message = str(exc)
        location = where
        if " - at `$." in message:
            message, _, path = message.partition(" - at `$.")
            location = f"{where}.{path.rstrip('`')}"
        raise ApiError(422, message, [ProblemDetail(location=location, message=message)]) from None
    except msgspec.DecodeError as exc:
        raise ApiError(
            400, f"the body is not valid JSON: {exc}", [ProblemDetail(location=where, message=str(exc))]
        ) from None
    except RecursionError:
        raise ApiError(400, TOO_DEEP, [ProblemDetail(location=where, message=TOO_DEEP)]) from None
