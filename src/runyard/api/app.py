"""The ASGI application: every dialect's endpoints, auth, errors in each dialect's shape, docs."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

import runyard
from runyard import heap
from runyard.api.auth import AuthMiddleware, VerifiedKeys
from runyard.api.common import TOO_DEEP, ApiError, Handler, json_response
from runyard.api.dialects import DIALECTS, all_endpoints, error_for_path, is_open, token_grants
from runyard.api.openapi import build_openapi, docs_html
from runyard.api.routing import DirectRoutes, HotRoutes, IndexedRouter, hot_route
from runyard.errors import RunyardError
from runyard.runtime import Runtime

log = logging.getLogger("runyard.api")


def _version() -> str:
    return runyard.__version__  # not importlib.metadata, which costs the server about 2 MB of imports


def guarded(handler: Handler) -> Handler:
    """Render every error in the dialect shape of the request's path; bad input never becomes a 5xx."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_for_path(request.url.path, exc.status, exc.message, exc.errors)
        except RunyardError as exc:
            return error_for_path(request.url.path, exc.status, exc.message)
        except RecursionError:  # input nested deeper than any decoder or encoder will follow
            return error_for_path(request.url.path, 400, TOO_DEEP)
        except ClientDisconnect:  # the client went away mid-request (or was cut off): nobody to answer
            log.info("client left during %s %s", request.method, request.url.path)
            return Response(status_code=400)

    endpoint.__name__ = handler.__name__
    return endpoint


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    """The handler of a path's method (HEAD is answered by GET's)."""
    if len(handlers) == 1:
        return next(iter(handlers.values()))

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return endpoint


def create_app(runtime: Runtime, on_started: Callable[[Runtime], None] | None = None) -> Starlette:
    endpoints = all_endpoints()

    @functools.cache
    def document() -> dict[str, Any]:  # built on first use: an idle server does not hold it (about 1 MB)
        return build_openapi(DIALECTS, _version())

    async def openapi(request: Request) -> Response:
        return json_response(document())

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_html(document()))

    by_path: dict[str, dict[str, Handler]] = {}  # one route per path, so a 405 names every method it has
    for ep in endpoints:
        by_path.setdefault(ep.path, {})[ep.method] = guarded(ep.handler)
    # A literal segment wins over a parameter where both match (`/api/runs/bulk/stop` before
    # `/api/runs/{runId}/stop`): the first route that matches serves, so the more literal comes first.
    ordered = sorted(by_path, key=lambda path: [seg.startswith("{") for seg in path.split("/")])
    routes = [Route(path, _dispatch(by_path[path]), methods=list(by_path[path])) for path in ordered]
    routes += [Route("/openapi.json", openapi, methods=["GET"]), Route("/docs", docs, methods=["GET"])]

    hot = [
        found
        for ep in endpoints
        if ep.hot and (found := hot_route(ep.method, ep.path, guarded(ep.handler), list(routes))) is not None
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        response = error_for_path(request.url.path, exc.status_code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_for_path(request.url.path, 500, "internal server error")

    async def direct_error(request: Request, exc: Exception) -> Response:
        return await (http_error if isinstance(exc, HTTPException) else server_error)(request, exc)

    async def check_token(raw: str, method: str, path: str) -> bool:
        claims = await runtime.service.public_token_claims(raw)
        scopes = claims.get("scopes") if claims else None
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            return False
        return token_grants(scopes, method, path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        if on_started is not None:
            on_started(runtime)
        heap.trim()
        heap.fewer_collections()
        try:
            yield
        finally:
            await runtime.stop()

    verified = VerifiedKeys()
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                AuthMiddleware,
                check_key=runtime.service.api_key_is_valid,
                is_open=is_open,
                deny=error_for_path,
                check_token=check_token,
                verified=verified,
            ),
            Middleware(HotRoutes, routes=hot),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.router = IndexedRouter(routes, lifespan=lifespan)  # Starlette's, trying only routes that could match
    app.state.service = runtime.service
    app.state.runtime = runtime
    app.state.max_body_bytes = runtime.settings.max_body_bytes
    app.state.direct = DirectRoutes(app, hot, verified.admits, direct_error)  # for runyard.serving's protocol
    return app
