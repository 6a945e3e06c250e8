"""The indexed router picks exactly the route Starlette's own ordered scan picks, for every route of every dialect
and for paths no route has (wrong methods, extra or missing segments, unknown prefixes, trailing slashes)."""

from __future__ import annotations

import re

from starlette.routing import BaseRoute, Match, Route

from runyard.api.dialects import DEFAULT, DIALECTS, all_endpoints, dialect_for
from runyard.api.routing import IndexedRouter, hot_route


async def _nothing(request: object) -> None:  # pragma: no cover - never called
    return None


def _router() -> IndexedRouter:
    by_path: dict[str, list[str]] = {}
    for ep in all_endpoints():
        by_path.setdefault(ep.path, []).append(ep.method)
    ordered = sorted(by_path, key=lambda path: [seg.startswith("{") for seg in path.split("/")])
    routes: list[BaseRoute] = [Route(p, _nothing, methods=by_path[p]) for p in ordered]
    routes += [Route("/openapi.json", _nothing, methods=["GET"]), Route("/docs", _nothing, methods=["GET"])]
    return IndexedRouter(routes)


def _pick(routes: list[BaseRoute], method: str, path: str) -> tuple[BaseRoute | None, Match]:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route, Match.FULL
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial, Match.PARTIAL if partial else Match.NONE


def _paths(router: IndexedRouter) -> list[str]:
    found = ["/", "", "/nope", "/a/b/c/d/e/f/g/h/i/j/k", "/api", "/api/", "/v1//runs", "/%2F/x"]
    for route in router.routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "x1", route.path)
        found += [path, path + "/", path + "/extra", path.rsplit("/", 1)[0], "/zz" + path, path.replace("/", "//", 1)]
    return found


def test_the_index_picks_what_the_ordered_scan_picks() -> None:
    router = _router()
    checked = 0
    for path in _paths(router):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            expected = _pick(router.routes, method, path)
            assert _pick(router._candidates(path), method, path) == expected, (method, path)
            checked += 1
    assert checked > 1000
    assert len(router._index) < 400  # the index is bounded by the routes, not by the paths asked


def test_a_path_belongs_to_the_dialect_with_the_longest_prefix_it_starts_with() -> None:
    paths = [ep.path for ep in all_endpoints()] + ["/", "/x", "/api", "/api/", "/v0", "/v1/", "/health", "/docs"]
    paths += [p + "/more" for p in paths] + [p[:-1] for p in paths if len(p) > 1]
    for path in paths:
        lengths = [d.match(path) for d in DIALECTS]
        best = max(lengths)
        expected = DIALECTS[lengths.index(best)] if best >= 0 else DEFAULT
        assert dialect_for(path) is expected, path


def test_a_hot_route_takes_exactly_the_requests_starlette_would_give_its_handler() -> None:
    router = _router()
    hot = [hot_route(ep.method, ep.path, _nothing, router.routes) for ep in all_endpoints() if ep.hot]
    assert len(hot) == 3 and all(h is not None for h in hot)
    paths = [*_paths(router), "/api/tasks/run/run", "/api/tasks/bulk/run", "/api/tasks//run", "/v1/tasks/x/trigger/"]
    for route in hot:
        assert route is not None
        for path in paths:
            for method in ("GET", "POST", "PUT"):
                picked, match = _pick(router.routes, method, path)
                expected = match is Match.FULL and isinstance(picked, Route) and picked.path == route.path
                assert (route.match(method, path) is not None) == expected, (route.path, method, path)


def test_a_literal_route_tried_first_shadows_the_hot_routes_parameter() -> None:
    routes: list[BaseRoute] = [
        Route("/api/tasks/bulk/{x}", _nothing, methods=["POST"]),
        Route("/api/{kind}/special/run", _nothing, methods=["POST"]),
        Route("/api/tasks/{taskName}/run", _nothing, methods=["POST"]),
    ]
    route = hot_route("POST", "/api/tasks/{taskName}/run", _nothing, routes)
    assert route is not None and route.shadows == {"bulk"}
    assert route.match("POST", "/api/tasks/bulk/run") is None and route.match("POST", "/api/tasks/a/run")
    assert hot_route("POST", "/api/x/{a}", _nothing, [Route("/api/{p:path}", _nothing, methods=["POST"])]) is None
