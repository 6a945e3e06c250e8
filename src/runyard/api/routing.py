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

from collections.abc import Awaitable, Callable

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

Key = tuple[int, str]
Handler = Callable[[Request], Awaitable[Response]]


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


class HotRoute:
    """One route of the form `/literal/.../{param}/literal...` (one parameter, a whole segment)."""

    def __init__(self, method: str, path: str, handler: Handler, shadows: frozenset[str]) -> None:
        head, _, rest = path.partition("{")
        name, _, tail = rest.partition("}")
        if not head.endswith("/") or "{" in tail or ":" in name or not name:
            raise ValueError(f"not a hot route: {path}")
        self.method, self.path, self.handler = method, path, handler
        self.head, self.name, self.tail = head, name, tail
        self.shadows = shadows  # values of the parameter that another route, tried first, would take

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method or not path.startswith(self.head) or not path.endswith(self.tail):
            return None
        value = path[len(self.head) : len(path) - len(self.tail)]
        if not value or "/" in value or value in self.shadows:
            return None
        return {self.name: value}


class HotRoutes:
    """The routes every trigger takes, served straight from the middleware stack, after authentication:
    without Starlette's exception middleware, router and request/response wrapper, which cost a trigger more
    than its own handler did. A request is taken only when Starlette's router would have given it to the
    same handler (`shadows`: the parameter values that another route matches first); everything else, and
    every error the handler does not render itself, goes the usual way."""

    def __init__(self, app: ASGIApp, routes: list[HotRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = first_match(self.routes, scope["method"], get_route_path(scope))
            if found is not None:
                route, scope["path_params"] = found
                response = await route.handler(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def first_match(routes: list[HotRoute], method: str, path: str) -> tuple[HotRoute, dict[str, str]] | None:
    """The first hot route that takes this method and path, with its path parameters."""
    for route in routes:
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None


class DirectRoutes:
    """The hot routes, for the HTTP protocol to serve itself (runyard.serving): a request they take skips
    uvicorn's ASGI cycle and the middleware stack, and its handler's response is written in one piece.

    A request is taken only when the stack would have given it to the same handler unchanged: a hot route's
    method and path (HotRoutes' own match), an API key verified lately (a public token, a missing or unknown
    key go through the authentication middleware), no proxy headers to apply (uvicorn's middleware rewrites
    the scope for those), and a body of declared length, small enough to be held whole. Everything else
    takes the usual way. Errors are answered as the stack answers them: the handler renders its own, and an
    unexpected exception is logged and answered 500 in the dialect's shape (`on_error`)."""

    MAX_BODY = 65_536

    def __init__(
        self,
        app: ASGIApp,
        routes: list[HotRoute],
        admits: Callable[[list[tuple[bytes, bytes]]], bool],
        on_error: Callable[[Request, Exception], Awaitable[Response]],
    ) -> None:
        self.app = app
        self.routes = routes
        self.admits = admits
        self.on_error = on_error
        self.served = 0  # requests served here (the rest went through the ASGI application)

    def take(self, scope: Scope) -> tuple[HotRoute, dict[str, str]] | None:
        """The route and path parameters of a request this serves, or None for the ASGI application."""
        found = first_match(self.routes, scope["method"], scope["path"])
        if found is None:
            return None
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                if length is not None or not value.isdigit() or int(value) > self.MAX_BODY:
                    return None
                length = value
            elif name in (b"transfer-encoding", b"x-forwarded-for", b"x-forwarded-proto"):
                return None
        if length is None or scope.get("root_path") or not self.admits(scope["headers"]):
            return None
        return found

    async def serve(self, scope: Scope, body: bytes, route: HotRoute, params: dict[str, str]) -> Response:
        self.served += 1
        scope["app"] = self.app
        scope["path_params"] = params
        request = Request(scope)
        request._body = body  # the whole body, held by the protocol (Request.body() and stream() read it)
        try:
            return await route.handler(request)
        except Exception as exc:
            return await self.on_error(request, exc)


def hot_route(method: str, path: str, handler: Handler, routes: list[BaseRoute]) -> HotRoute | None:
    """`path`'s hot route, or None if another route could take its requests in ways this does not model.
    Its shadows are the literals of routes that Starlette tries before it for the same requests: a route
    sorted first (a literal where `path` has its parameter, equal literals before that position) that
    matches the same method and path shape."""
    shape = path.split("/")
    index = next(i for i, seg in enumerate(shape) if seg.startswith("{"))
    shadows = set()
    for route in routes:
        if not isinstance(route, Route) or route.path == path or method not in (route.methods or ()):
            continue
        if ":path}" in route.path:  # may match any number of segments
            if path.startswith(route.path.partition("{")[0]):
                return None
            continue
        other = route.path.split("/")
        if len(other) != len(shape) or other[index].startswith("{"):
            continue  # another shape, or a parameter here too: then it sorts after `path` or never overlaps
        if other[:index] == shape[:index] and all(
            a == b or b.startswith("{") for a, b in zip(shape[index + 1 :], other[index + 1 :], strict=True)
        ):
            shadows.add(other[index])
    return HotRoute(method, path, handler, frozenset(shadows))
