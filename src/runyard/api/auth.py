"""API-key authentication for every route but health, docs and schemas (pure ASGI, no per-request read
of the store on the hot path: a verified key is remembered for CACHE_SECONDS, so a revoked key stops
working within that time)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from runyard.api.common import error_for_path
from runyard.keys import hash_key
from runyard.store.base import Store

CACHE_SECONDS = 5.0
OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/api/v1/timezones"})  # timezones: as Trigger.dev


PACKET_UPLOADS = "/api/v1/packets/upload/"  # presigned: the single-use token in the path is the credential


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(("/schemas/", PACKET_UPLOADS))


def key_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value:
            return value.decode("latin-1").strip()
    return None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store
        self._verified: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        raw = key_from_headers(scope["headers"])
        if raw is None:
            await self._deny(scope, receive, send, "missing API key: send Authorization: Bearer <key>")
            return
        digest = hash_key(raw)
        now = time.monotonic()
        if self._verified.get(digest, 0.0) < now:
            if await self.store.find_api_key(digest) is None:
                self._verified.pop(digest, None)
                await self._deny(scope, receive, send, "invalid API key")
                return
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[digest] = now + CACHE_SECONDS
        await self.app(scope, receive, send)

    async def _deny(self, scope: Scope, receive: Receive, send: Send, message: str) -> None:
        response: Any = error_for_path(scope["path"], 401, message)
        response.headers["www-authenticate"] = "Bearer"
        await response(scope, receive, send)
