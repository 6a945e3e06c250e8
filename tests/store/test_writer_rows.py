"""The writer merges consecutive `InsertRow` writes of one transaction into one multi-row INSERT, and a row that
cannot be inserted fails alone: the others are committed and answered."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

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


async def test_a_refused_row_runs_as_its_alone_write(tmp_path: Path) -> None:
    """A row its unique index refuses, merged or by itself, is answered by its `alone` write; its neighbours
    are committed as rows, in the same transaction."""
    writer = Writer(tmp_path / "r.db")
    writer.start(init=migrate)

    def looked_up(conn: sqlite3.Connection) -> str:
        return "found " + str(conn.execute("SELECT id FROM runs WHERE id = 'R0002'").fetchone()[0])

    try:
        await writer.submit(InsertRow("insert_run", run_row(2), "first"))
        alone_by_itself = await writer.submit(InsertRow("insert_run", run_row(2), "inserted", looked_up))
        assert alone_by_itself == "found R0002"
        before = writer.commits
        futures = [
            writer.submit(InsertRow("insert_run", run_row(i), f"done R{i:04d}", looked_up if i == 2 else None))
            for i in range(4)
        ]
        assert await asyncio.gather(*futures) == ["done R0000", "done R0001", "found R0002", "done R0003"]
        assert writer.commits - before == 1  # the refused row did not send its neighbours one by one
    finally:
        writer.stop()
    conn = sqlite3.connect(tmp_path / "r.db")
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4


async def test_a_locked_database_is_retried_while_the_loop_serves_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process's write lock never blocks the event loop: the write waits off the loop and lands once the
    lock is gone; a lock held past BUSY_TIMEOUT_MS fails the write with SQLite's own error."""
    writer = Writer(tmp_path / "r.db")
    writer.start(init=migrate)
    other = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        pending = writer.submit(InsertRow("insert_run", run_row(1), "landed"))
        ticks = 0
        for _ in range(20):  # the loop keeps turning while the write waits
            await asyncio.sleep(0.005)
            ticks += 1
        assert ticks == 20 and not pending.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(pending, 2) == "landed"

        monkeypatch.setattr("runyard.store.sqlite_conn.BUSY_TIMEOUT_MS", 100)
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        failed = writer.submit(InsertRow("insert_run", run_row(2), "never"))
        with pytest.raises(sqlite3.OperationalError, match="locked"):  # a lock held too long fails the write
            await asyncio.wait_for(failed, 2)
        assert 0.09 < time.monotonic() - started < 1.5
        other.execute("ROLLBACK")
    finally:
        other.close()
        writer.stop()
    conn = sqlite3.connect(tmp_path / "r.db")
    assert [r[0] for r in conn.execute("SELECT id FROM runs")] == ["R0001"]


async def test_writes_waiting_when_the_store_stops_fail(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "r.db")
    writer.start(init=migrate)
    waiting = writer.submit(InsertRow("insert_run", run_row(1), "never"))
    writer.stop()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):  # a write the store never ran did not succeed
        await asyncio.wait_for(waiting, 2)


async def test_the_log_is_checkpointed_off_the_loop(tmp_path: Path) -> None:
    """Commits never checkpoint (the writer's autocheckpoint is off): the checkpointer's thread copies them into
    the database file soon after, as the file read without its log shows."""
    writer = Writer(tmp_path / "r.db")
    writer.start(init=migrate)
    try:
        assert writer._conn is not None and writer._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        await asyncio.gather(*[writer.submit(InsertRow("insert_run", run_row(i), i)) for i in range(50)])
        for _ in range(250):  # the checkpointer is a thread: poll it
            if writer.checkpointer.checkpoints:
                break
            await asyncio.sleep(0.02)
        assert writer.checkpointer.checkpoints >= 1
        file_only = sqlite3.connect(f"file:{tmp_path / 'r.db'}?immutable=1", uri=True)  # ignores the -wal file
        assert file_only.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 50
        file_only.close()
    finally:
        writer.stop()
