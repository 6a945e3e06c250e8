"""A dialect as one object: the paths it owns, its endpoints, how it renders errors, which of its paths
need no API key, and its words for the engine's run statuses. The app, auth and the OpenAPI document
iterate over the registry (`api/dialects.py`); adding a dialect is one module and one line there."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from runyard.api.common import Endpoint, ProblemDetail
from runyard.models import RunStatus

ErrorRenderer = Callable[[int, str, "list[ProblemDetail] | None"], Response]
TokenGrants = Callable[[Sequence[str], str, str], bool]  # (scopes, method, path) -> allowed


@dataclass(frozen=True)
class Dialect:
    name: str
    prefixes: tuple[str, ...]  # the paths it owns; the longest matching prefix of all dialects wins
    endpoints: Sequence[Endpoint]
    render_error: ErrorRenderer  # (status, message, details) -> a response in the dialect's error shape
    error_schema: Any  # the msgspec type of its error body (for the OpenAPI document)
    error_media_type: str
    statuses: Mapping[RunStatus, str]  # every engine status in the dialect's words
    open_paths: frozenset[str] = frozenset()  # exact paths served without an API key
    open_prefixes: tuple[str, ...] = ()  # path prefixes served without an API key
    token_grants: TokenGrants | None = None  # which (method, path) a public access token's scopes may read
    # header API keys its routes need besides the runyard API key: OpenAPI scheme name -> header name
    also_headers: Mapping[str, str] = field(default_factory=dict)

    def match(self, path: str) -> int:
        """The length of the longest of its prefixes that `path` starts with, -1 if none."""
        return max((len(p) for p in self.prefixes if path.startswith(p)), default=-1)

    def is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(self.open_prefixes)
