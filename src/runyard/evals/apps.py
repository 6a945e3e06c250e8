"""Applications under test: where their webhook is and the secret its requests are signed with, from
`[[applications]]` in runyard.toml. A signature is HMAC-SHA256 (hex) over "<timestamp>.<body>"."""

from __future__ import annotations

import hashlib
import hmac

import msgspec


class Application(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    title: str
    webhook_url: str
    secret: str = ""
    slug: str = ""
    description: str = ""
    context: str = ""
    language: str = "en"
    kind: str = "CHATBOT"
    environment: str = "DEV"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return bool(secret) and hmac.compare_digest(sign(secret, timestamp, body), signature)
