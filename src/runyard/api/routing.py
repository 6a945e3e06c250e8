"""Route matching that does not try every route: Starlette's router, with an index in front of it.

Starlette matches a request by trying its routes in order, a regular expression each; with the few hundred
routes of every dialect, that loop was about a quarter of the event loop's time on a trigger. A `{param}`
matches one path segment, so a route can only match a path with as many segments as its own, and a literal
first segment must be the path's own. `IndexedRouter` keeps, for each (segment count, first segment), the
routes that could match such a path, in their original order (routes it cannot reason about, such as a
`{name:path}` parameter, are candidates for every path), and tries only those, with Starlette's own rules
(a full match wins; else the first partial match, a 405). When none matches, Starlette's router decides
as before (trailing-slash redirect, 404), so every answer is the one Starlette would give.
"""

from __future__ import annotations

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

Key = tuple[int, str]


def _key(path: str) -> Key:
    segments = path.split("/")
    return len(segments), segments[1] if len(segments) > 1 else ""


def _shape(route: BaseRoute) -> Key | None:
    """The key of the paths this route can match, or None when it may match paths of other shapes."""
    if not isinstance(route, Route) or ":path}" in route.path:
        return None
    count, first = _key(route.path)
    return count, "" if first.startswith("{") else first


class IndexedRouter(Router):
    _index: dict[Key, list[BaseRoute]]
    _anywhere: list[tuple[int, BaseRoute]]
    _firsts: set[str]
    _longest: int
    _indexed: int = -1

    def _candidates(self, path: str) -> list[BaseRoute]:
        if self._indexed != len(self.routes):
            self._build()
        count, first = _key(path)
        # Bounded keys: a first segment no route has, or more segments than any route has, are one key each
        # (so no request can grow the index).
        key = (min(count, self._longest + 1), first if first in self._firsts else "\0")
        found = self._index.get(key)
        if found is None:
            found = self._merge(*key)
            self._index[key] = found
        return found

    def _build(self) -> None:
        self._index = {}
        self._anywhere = [(i, r) for i, r in enumerate(self.routes) if _shape(r) is None]
        shapes = [shape for r in self.routes if (shape := _shape(r)) is not None]
        self._firsts = {first for _, first in shapes if first}
        self._longest = max((count for count, _ in shapes), default=0)
        self._indexed = len(self.routes)

    def _merge(self, count: int, first: str) -> list[BaseRoute]:
        """Routes that may match a path of `count` segments starting with `first`, in the router's order."""
        picked = [
            (i, r)
            for i, r in enumerate(self.routes)
            if (shape := _shape(r)) is not None and shape[0] == count and shape[1] in (first, "")
        ]
        return [r for _, r in sorted(picked + self._anywhere, key=lambda item: item[0])]

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route in self._candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        await super().app(scope, receive, send)  # nothing can match: a redirect or a 404, as Starlette decides
