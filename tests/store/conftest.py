"""The store contract fixture: every test in this folder runs against every store backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runyard.ids import new_ulid
from runyard.store.base import EnqueueParams, Store
from runyard.store.sqlite import SqliteStore

BACKENDS = ["sqlite"]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "sqlite":
        backend = SqliteStore(tmp_path / "runyard.db")
    else:  # pragma: no cover - other backends register here
        raise AssertionError(request.param)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


def params(task: str = "t", **kw: Any) -> EnqueueParams:
    kw.setdefault("queue", f"task/{task}")
    return EnqueueParams(id=new_ulid(), task=task, **kw)
