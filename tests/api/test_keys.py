"""The first start creates one admin key, shows it once and writes it 0600; later starts do not."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from runyard.keys import hash_key
from runyard.runtime import Runtime
from runyard.settings import Settings


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
