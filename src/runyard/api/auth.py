"""API-key authentication for every route but the open ones (health, docs, schemas; each dialect names
its own). Pure ASGI, no per-request read of the store on the hot path: a verified key is remembered for
CACHE_SECONDS, so a revoked key stops working within that time."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from runyard.keys import hash_key
from runyard.tokens import looks_like_token

CACHE_SECONDS = 5.0
PACKET_UPLOADS = "/api/v1/packets/upload/"  # presigned: the single-use token in the path is the credential

KeyCheck = Callable[[str], Awaitable[bool]]  # is this raw key an active API key?
OpenCheck = Callable[[str], bool]  # is this path served without a key?
Deny = Callable[[str, int, str], Response]  # (path, status, message) -> the owning dialect's error
TokenCheck = Callable[[str, str, str], Awaitable[bool]]  # (public token, method, path) -> does it grant this?


def key_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value:
            return value.decode("latin-1").strip()
    return None


class VerifiedKeys:
    """The API keys verified within the last CACHE_SECONDS, by their hash (shared by the middleware and the
    routes the HTTP protocol serves itself, runyard.api.routing.DirectRoutes)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def fresh(self, digest: str) -> bool:
        return self._until.get(digest, 0.0) >= time.monotonic()

    def remember(self, digest: str) -> None:
        if len(self._until) > 10_000:
            self._until.clear()
        self._until[digest] = time.monotonic() + CACHE_SECONDS

    def forget(self, digest: str) -> None:
        self._until.pop(digest, None)

    def admits(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether these headers carry an API key verified lately (a public token, or a key not seen
        lately, is for the middleware to check)."""
        raw = key_from_headers(headers)
        return raw is not None and not looks_like_token(raw) and self.fresh(hash_key(raw))


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        check_key: KeyCheck,
        is_open: OpenCheck,
        deny: Deny,
        check_token: TokenCheck | None = None,
        verified: VerifiedKeys | None = None,
    ) -> None:
        self.app = app
        self.check_token = check_token
        self.check_key = check_key
        self.is_open = is_open
        self.deny = deny
        self.verified = verified if verified is not None else VerifiedKeys()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        raw = key_from_headers(scope["headers"])
        if raw is None:
            await self._deny(scope, receive, send, "missing API key: send Authorization: Bearer <key>")
            return
        if self.check_token is not None and looks_like_token(raw):
            if await self.check_token(raw, scope["method"], scope["path"]):
                await self.app(scope, receive, send)
            else:
                await self._deny(scope, receive, send, "the public access token is not valid for this request")
            return
        digest = hash_key(raw)
        if not self.verified.fresh(digest):
            if not await self.check_key(raw):
                self.verified.forget(digest)
                await self._deny(scope, receive, send, "invalid API key")
                return
            self.verified.remember(digest)
        await self.app(scope, receive, send)

    async def _deny(self, scope: Scope, receive: Receive, send: Send, message: str) -> None:
        response: Any = self.deny(scope["path"], 401, message)
        response.headers["www-authenticate"] = "Bearer"
        await response(scope, receive, send)
