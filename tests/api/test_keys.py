"""The first start creates one admin key, shows it once and writes it 0600; later starts do not."""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path

import pytest

from runyard.keys import ensure_key, hash_key
from runyard.runtime import Runtime
from runyard.settings import Settings
from runyard.store.sqlite import SqliteStore


async def test_first_start_writes_an_admin_key_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNYARD_API_KEY", raising=False)
    settings = Settings(database=f"sqlite:///{tmp_path / 'k.db'}", data_dir=tmp_path / "data", embedded_worker=False)
    first = Runtime(settings)
    await first.start()
    key = first.new_admin_key
    assert key is not None and key.startswith("ry_")
    path = tmp_path / "data" / "admin.key"
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = await first.store.find_api_key(hash_key(key))
    assert stored is not None and stored.name == "admin"
    assert key not in (tmp_path / "k.db").read_bytes().decode(errors="ignore")  # only its hash is kept
    await first.stop()
    second = Runtime(settings)
    await second.start()
    assert second.new_admin_key is None
    assert len(await second.store.list_api_keys()) == 1
    await second.stop()


SEED = "ry_seeded_key_0123456789abcdefghij"


async def test_servers_starting_at_once_store_the_seeded_key_once(tmp_path: Path) -> None:
    stores = [SqliteStore(tmp_path / "k.db"), SqliteStore(tmp_path / "k.db")]  # two servers' stores, one file
    for store in stores:
        await store.open()
        assert await store.list_api_keys() == []  # each has its reader connection: their lookups overlap
    try:
        await asyncio.gather(*(ensure_key(store, SEED, "RUNYARD_API_KEY") for store in stores))
        [key] = await stores[0].list_api_keys()
        assert key.name == "RUNYARD_API_KEY" and key.revoked_at is None
        assert await stores[1].find_api_key(hash_key(SEED)) is not None
    finally:
        for store in stores:
            await store.close()


async def test_a_revoked_seed_key_stays_revoked_and_the_server_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RUNYARD_API_KEY", SEED)
    settings = Settings(database=f"sqlite:///{tmp_path / 'k.db'}", data_dir=tmp_path / "data", embedded_worker=False)
    first = Runtime(settings)
    await first.start()
    [key] = await first.store.list_api_keys()
    assert await first.store.revoke_api_key(key.id)
    await first.stop()
    again = Runtime(settings)
    with caplog.at_level(logging.WARNING, logger="runyard.keys"):
        await again.start()
    try:
        assert await again.store.find_api_key(hash_key(SEED)) is None
        assert len(await again.store.list_api_keys()) == 1
        assert "revoked" in caplog.text
    finally:
        await again.stop()
