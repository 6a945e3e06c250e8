"""The registry of dialects: which one owns a path, its error shape, and which paths are open."""

from __future__ import annotations

import dataclasses

from starlette.responses import Response

from runyard.api import (
    arize,
    avido,
    avido_ingest,
    native,
    native_evals,
    native_streams,
    otlp,
    runwisp,
    runwisp_control,
    runwisp_streams,
    trigger_dev,
)
from runyard.api.common import Endpoint, ProblemDetail
from runyard.api.dialect import Dialect
from runyard.api.links import with_links


def _with(dialect: Dialect, *more: Endpoint) -> Dialect:
    """A dialect with endpoints of modules that build on it (its live streams render with its types)."""
    return dataclasses.replace(dialect, endpoints=[*dialect.endpoints, *more])


DIALECTS: tuple[Dialect, ...] = tuple(
    with_links(d)
    for d in (
        _with(native.DIALECT, *native_streams.ENDPOINTS, *native_evals.ENDPOINTS, *otlp.ENDPOINTS),
        _with(runwisp.DIALECT, *runwisp_streams.ENDPOINTS, *runwisp_control.ENDPOINTS),
        trigger_dev.DIALECT,
        _with(avido.DIALECT, *avido_ingest.ENDPOINTS),
        arize.DIALECT,
    )
)
DEFAULT = DIALECTS[0]  # answers for paths no dialect owns (docs, unknown routes)
APP_OPEN_PATHS = frozenset({"/openapi.json", "/docs"})  # the app's own, served without an API key


# Every dialect's prefixes, longest first: the first one a path starts with names its dialect (on a tie, the
# dialect listed first, as before).
_PREFIXES = sorted(
    ((prefix, i, dialect) for i, dialect in enumerate(DIALECTS) for prefix in dialect.prefixes),
    key=lambda item: (-len(item[0]), item[1]),
)


def dialect_for(path: str) -> Dialect:
    for prefix, _, dialect in _PREFIXES:
        if path.startswith(prefix):
            return dialect
    return DEFAULT


def error_for_path(path: str, status: int, message: str, errors: list[ProblemDetail] | None = None) -> Response:
    """An error in the shape of the dialect that owns `path`."""
    return dialect_for(path).render_error(status, message, errors)


def is_open(path: str) -> bool:
    return path in APP_OPEN_PATHS or dialect_for(path).is_open(path)


def token_grants(scopes: list[str], method: str, path: str) -> bool:
    """Whether a public access token with `scopes` may make this request (only where its dialect says so)."""
    grants = dialect_for(path).token_grants
    return grants is not None and grants(scopes, method, path)


def all_endpoints() -> list[Endpoint]:
    return [ep for dialect in DIALECTS for ep in dialect.endpoints]
