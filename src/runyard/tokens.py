"""Public access tokens: HS256 JWTs that grant read access to named resources (a run, a batch) without an
API key, for browsers and other places an API key must not go.

They are signed with a key derived from a server secret (generated once, kept in the store, shared by every
server on it), never with an API key, so a token says nothing about any key and every server can verify it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

import msgspec

_HEADER = base64.urlsafe_b64encode(msgspec.json.encode({"alg": "HS256", "typ": "JWT"})).rstrip(b"=").decode()


def derive_key(server_secret: bytes) -> bytes:
    """The signing key of public tokens, derived so that the server secret itself signs nothing."""
    return hmac.new(server_secret, b"runyard public access tokens v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, claims: dict[str, Any], ttl_s: int = 3600) -> str:
    now = int(time.time())
    body = _b64(msgspec.json.encode({**claims, "iat": now, "exp": now + ttl_s}))
    signature = hmac.new(key, f"{_HEADER}.{body}".encode(), hashlib.sha256).digest()
    return f"{_HEADER}.{body}.{_b64(signature)}"


def looks_like_token(raw: str) -> bool:
    return raw.startswith("eyJ") and raw.count(".") == 2


def verify(key: bytes, raw: str) -> dict[str, Any] | None:
    """The claims of a token signed with `key` that has not expired; None for anything else."""
    try:
        header, body, signature = raw.split(".")
        expected = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
        if header != _HEADER or not hmac.compare_digest(_unb64(signature), expected):
            return None
        claims = msgspec.json.decode(_unb64(body))
    except (ValueError, binascii.Error, msgspec.DecodeError, RecursionError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
        return None
    return claims
