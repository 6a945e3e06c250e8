"""API keys: generated once, shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from runyard.ids import new_ulid, now_us
from runyard.models import ApiKey
from runyard.store.base import Store

PREFIX = "ry_"


def generate_key() -> str:
    return PREFIX + secrets.token_urlsafe(24)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_key(store: Store, name: str, raw: str | None = None) -> tuple[ApiKey, str]:
    """Store a new key (or the given raw key) and return it with its raw text, which is not kept."""
    raw = raw or generate_key()
    key = ApiKey(id=new_ulid(), name=name, prefix=raw[:7], created_at=now_us())
    await store.create_api_key(key, hash_key(raw))
    return key, raw


async def ensure_key(store: Store, raw: str, name: str) -> None:
    """Make sure `raw` is an active key (RUNYARD_API_KEY seeds a known key for deployments and tests)."""
    if await store.find_api_key(hash_key(raw)) is None:
        await create_key(store, name, raw)


async def ensure_admin_key(store: Store, data_dir: Path) -> str | None:
    """On the first start (no key at all), create an admin key, write it 0600 to <data_dir>/admin.key and
    return it so the server can print it once. Later starts return None."""
    if await store.list_api_keys():
        return None
    _, raw = await create_key(store, "admin")
    write_secret(data_dir / "admin.key", raw)
    return raw


def write_secret(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.chmod(path, 0o600)
