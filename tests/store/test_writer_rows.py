"""The writer merges consecutive `InsertRow` writes of one transaction into one multi-row INSERT, and a row that
cannot be inserted fails alone: the others are committed and answered."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from runyard.store.sqlite import migrate
from runyard.store.sqlite_conn import InsertRow, Writer
from tests.store.conftest import run_row


async def _queued_behind_a_slow_write(writer: Writer, rows: list[dict[str, object]]) -> list[object]:
    """Submit `rows` while the writer is busy, so that they wait and are taken as one batch."""
    slow = writer.submit(lambda conn: time.sleep(0.2))
    await asyncio.sleep(0.05)
    futures = [writer.submit(InsertRow("insert_run", row, f"done {row['id']}")) for row in rows]
    await slow
    return list(await asyncio.gather(*futures, return_exceptions=True))


async def test_queued_rows_share_one_transaction_and_one_statement(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "r.db")
    writer.start(init=migrate)
    try:
        before = writer.commits
        results = await _queued_behind_a_slow_write(writer, [run_row(i) for i in range(5)])
        assert results == [f"done R{i:04d}" for i in range(5)]
        assert writer.commits - before == 2  # the slow write, then the five rows together
    finally:
        writer.stop()
    conn = sqlite3.connect(tmp_path / "r.db")
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 5


async def test_a_row_that_fails_fails_alone(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "r.db")
    writer.start(init=migrate)
    try:
        await writer.submit(InsertRow("insert_run", run_row(2), "first"))
        results = await _queued_behind_a_slow_write(writer, [run_row(i) for i in range(5)])  # R0002 exists
        assert [r for i, r in enumerate(results) if i != 2] == [f"done R{i:04d}" for i in (0, 1, 3, 4)]
        assert isinstance(results[2], sqlite3.IntegrityError)
    finally:
        writer.stop()
    conn = sqlite3.connect(tmp_path / "r.db")
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 5
