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


def run_row(i: int) -> dict[str, object]:
    """The parameters of `insert_run` for a plain queued run R000i of batch B (for the store's own SQL)."""
    return {
        "id": f"R{i:04d}", "task": "t", "status": "queued", "queue": "task/t", "concurrency_key": "",
        "payload": f'{{"n":{i}}}'.encode(), "payload_type": "application/json", "context": None, "tags": "[]",
        "metadata": None, "idempotency_key": None, "idempotency_expires_at": None, "request_key": None,
        "priority": i % 3, "available_at": 1000 + i, "expires_at": None, "ttl_s": 1.5, "max_attempts": 2,
        "max_duration_s": None, "triggered_by": "api", "replay_of": None, "batch_id": "B", "batch_index": i,
        "created_at": 5, "updated_at": 5, "delayed_until": None, "schedule_id": None, "schedule_key": None,
        "replica_index": 0, "retry_as_new_run": 0,
    }  # fmt: skip
