"""API keys: generated once, shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from pathlib import Path

from runyard.ids import new_ulid, now_us
from runyard.models import ApiKey
from runyard.store.base import Store

log = logging.getLogger("runyard.keys")
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
    """Make sure `raw` is a key (RUNYARD_API_KEY seeds a known key for deployments and tests). Servers starting
    at once on one database store it once. A key revoked since stays revoked: the server starts and says so."""
    key_hash = hash_key(raw)
    if await store.find_api_key(key_hash) is not None:
        return
    key = ApiKey(id=new_ulid(), name=name, prefix=raw[:7], created_at=now_us())
    if not await store.create_api_key(key, key_hash) and await store.find_api_key(key_hash) is None:
        log.warning("the %s key (%s...) was revoked and stays revoked: requests with it are refused", name, key.prefix)


async def ensure_admin_key(store: Store, data_dir: Path) -> str | None:
    """On the first start (no key at all), create an admin key, write it 0600 to <data_dir>/admin.key and
    return it so the server can print it once. Later starts return None.

    An admin.key that is already there is never overwritten: a database without keys adopts it (another
    server on the same data directory, or two servers starting at once on one database, end with the one
    key the file holds)."""
    if await store.list_api_keys():
        return None
    path = data_dir / "admin.key"
    raw = generate_key()
    created = write_secret(path, raw, exclusive=True)
    for _ in range(100):  # another server may have created the file a moment ago and be writing it
        if created or (raw := path.read_text().strip()):
            break
        await asyncio.sleep(0.01)
    await ensure_key(store, raw, "admin")
    return raw if created else None


def write_secret(path: Path, text: str, *, exclusive: bool = False) -> bool:
    """Write `text` to a file only its owner can read (0600); with `exclusive`, only if there is none yet
    (False when there was)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC), 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.chmod(path, 0o600)
    return True
