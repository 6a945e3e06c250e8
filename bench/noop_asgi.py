"""The baseline peer: a raw ASGI app that answers every request with a small JSON body, no framework.

Served by the same uvicorn (uvloop + httptools) as runyard, so the ratio measures what runyard adds.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"id":"run_01hzzzzzzzzzzzzzzzzzzzzzzz"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def _starlette_app() -> Any:
    """The framework peer: one Starlette route that answers the same body (no auth, no store)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def noop(request: Request) -> Response:
        await request.body()
        return Response(BODY, status_code=201, media_type="application/json")

    return Starlette(routes=[Route("/api/tasks/{taskName}/run", noop, methods=["POST"])])


starlette_app = _starlette_app()
