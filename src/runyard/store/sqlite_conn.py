"""SQLite connections: one writer with group commit, run on the event loop's own thread, and a pool of reader
threads.

Every write is a function run on the writer's connection. The writes submitted during one turn of an event loop
and the next (up to `max_batch`) run together at the end of that, on the loop's thread, in one transaction with one
commit; then each caller's future gets its own result. If one operation raises, the batch is rolled back and its
operations are run again one transaction each, so an error stays with its own caller. Many concurrent triggers
thus share one commit, and each caller returns only after the commit that holds its write (WAL +
synchronous=NORMAL: durable against a process crash). Readers use their own connections and never write.

Why on the loop's thread: a writer thread gives up Python's interpreter lock during every SQLite step and must
win it back from the busy event loop, and every hand-off wakes a thread; measured side by side, writing on the
loop cost a durable trigger about a fifth less server CPU and drained a backlog about a third faster. A write
never waits for another process's lock on the loop: if the database is locked, the batch is tried again a
moment later (backing off up to `BUSY_TIMEOUT_MS`), while the loop serves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from runyard.futures import settle
from runyard.store.sqlite_sql import insert_many

log = logging.getLogger("runyard.store")
T = TypeVar("T")
WriteOp = Callable[[sqlite3.Connection], Any]
_Job = tuple[WriteOp, "asyncio.Future[Any]"]

BUSY_TIMEOUT_MS = 10_000
# The writer's page cache, at most (filled as pages are used). SQLite's default of 2 MiB holds the hot index pages
# of a few thousand runs: past that, every claim and completion read its pages back from the file; with 40,000
# runs queued, claiming and completing cost the writer a fifth less CPU with 32 MiB or more.
WRITER_CACHE_KIB = 65_536


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA cache_size = -1024")  # 1 MiB each: reads are point lookups and short pages
    return conn


class Grouped:
    """A write that runs as one statement with the like writes next to it in a transaction: consecutive writes of
    one class and `group` go to the class's `run_group` together (a multi-row INSERT, a set-based UPDATE), so
    that concurrent callers cost the writer one SQLite statement, not one each. Called alone, it runs as a
    group of one."""

    __slots__ = ("group",)

    def __init__(self, group: str) -> None:
        self.group = group

    def __call__(self, conn: sqlite3.Connection) -> Any:
        ((ok, value),) = self.run_group(conn, [self])
        if not ok:
            raise value
        return value

    @classmethod
    def run_group(cls, conn: sqlite3.Connection, ops: list[Any]) -> list[tuple[bool, Any]]:
        """[(ok, result)] of each write, in order."""
        raise NotImplementedError


class InsertRow(Grouped):
    """A write that is one row of a named INSERT, with the result its caller gets once it is committed: the
    consecutive ones of a transaction run as one multi-row INSERT (`insert_many`). Alone, it is an ordinary
    insert, or `alone` if given: an insert that a unique key may refuse runs as the write that looks the key up,
    when the merged insert fails (`_insert_or_look_up`) or its transaction is run again write by write."""

    __slots__ = ("alone", "result", "row")

    def __init__(
        self, query: str, row: dict[str, Any] | tuple[Any, ...], result: Any, alone: WriteOp | None = None
    ) -> None:
        super().__init__(query)
        self.row, self.result, self.alone = row, result, alone

    def __call__(self, conn: sqlite3.Connection) -> Any:
        insert_many(conn, self.group, [self.row])
        return self.result

    @classmethod
    def run_group(cls, conn: sqlite3.Connection, ops: list[Any]) -> list[tuple[bool, Any]]:
        if any(op.alone is not None for op in ops):
            return _insert_or_look_up(conn, ops[0].group, ops)
        insert_many(conn, ops[0].group, [op.row for op in ops])
        return [(True, op.result) for op in ops]


def _run_ops(conn: sqlite3.Connection, ops: list[WriteOp]) -> list[tuple[bool, Any]]:
    """Every operation's result, in order; consecutive `Grouped` writes of one kind as one group."""
    results: list[tuple[bool, Any]] = []
    for key, group in itertools.groupby(ops, key=_group_key):
        if key is None:
            results += [(True, op(conn)) for op in group]
        else:
            results += key[0].run_group(conn, list(group))
    return results


def _insert_or_look_up(conn: sqlite3.Connection, query: str, inserts: list[InsertRow]) -> list[tuple[bool, Any]]:
    """Rows some of which a unique key may refuse (a repeated request key): inserted together inside a savepoint;
    if that fails, each runs on its own (its `alone` write, which finds what the key names) and the transaction
    goes on, so a repeat does not send every other write of the transaction one by one."""
    conn.execute("SAVEPOINT merged_rows")
    try:
        insert_many(conn, query, [op.row for op in inserts])
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO merged_rows")
    else:
        conn.execute("RELEASE merged_rows")
        return [(True, op.result) for op in inserts]
    conn.execute("RELEASE merged_rows")
    return [(True, _alone(op)(conn)) for op in inserts]


def _alone(op: WriteOp) -> WriteOp:
    """What to run when `op` runs alone after its transaction failed."""
    return op.alone if isinstance(op, InsertRow) and op.alone is not None else op


def _group_key(op: WriteOp) -> tuple[type[Grouped], str] | None:
    return (type(op), op.group) if isinstance(op, Grouped) else None


class Writer:
    def __init__(self, path: Path, max_batch: int = 512) -> None:
        self.path = path
        self.max_batch = max_batch
        self._pending: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._lock = threading.Lock()  # one transaction at a time, if loops in several threads write
        self._conn: sqlite3.Connection | None = None
        self.checkpointer = Checkpointer(path)
        self.commits = 0
        self.operations = 0

    def start(self, init: WriteOp | None = None) -> None:
        conn = connect(self.path)  # migrations may wait for another process's lock: this is before serving
        if init is not None:
            init(conn)
        conn.execute("PRAGMA busy_timeout = 0")  # from now on a locked database is retried, never waited for
        conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's thread does it, off the loop
        self._conn = conn
        self.checkpointer.start()

    def stop(self) -> None:
        self.checkpointer.stop()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        for pending in self._pending.values():
            for _op, fut in pending:
                with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits for it
                    fut.get_loop().call_soon_threadsafe(_fail_closed, fut)
        self._pending.clear()

    def submit(self, op: WriteOp) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            # At the end of the next loop turn, not this one: the writes of the requests and replies read in
            # between join the same transaction (one commit writes each dirty page once). Side by side, a
            # drained run cost the server about 6% less; a trigger the same; an idle loop turns in microseconds.
            loop.call_soon(loop.call_soon, self._flush, loop, time.monotonic())
        pending.append((op, fut))
        return fut

    def _flush(self, loop: asyncio.AbstractEventLoop, since: float) -> None:
        """Run what this loop submitted (up to `max_batch` a transaction), unless the database is locked by
        another process: then try again shortly, and give up with the lock's error after BUSY_TIMEOUT_MS."""
        batch = self._pending.pop(loop, [])
        while batch:
            jobs, batch = batch[: self.max_batch], batch[self.max_batch :]
            try:
                self._commit(jobs)
            except _Locked as locked:
                waited = time.monotonic() - since
                if waited * 1000 < BUSY_TIMEOUT_MS:
                    self._pending[loop] = jobs + batch + self._pending.get(loop, [])
                    loop.call_later(min(0.05, 0.001 + waited / 2), self._flush, loop, since)
                    return
                settle([(fut, False, locked.error) for _op, fut in jobs])
            except Exception as exc:  # the database cannot be written at all (closed, disk error): say so
                settle([(fut, False, exc) for _op, fut in jobs])

    def _commit(self, batch: list[_Job]) -> None:
        """Run the batch in one transaction. If any operation raises, the transaction is rolled back and
        each operation is run again alone, so one caller's error never undoes another caller's write."""
        ops = [op for op, _fut in batch]
        with self._lock:
            conn = self._conn
            if conn is None:
                raise sqlite3.ProgrammingError("the store is closed")
            lone = len(ops) == 1 and _alone(ops[0]) is ops[0]
            results = self._transaction(conn, ops, alone=lone)
            if results is None:
                results = []
                for op in ops:
                    alone = self._transaction(conn, [_alone(op)], alone=True)
                    assert alone is not None  # a lone operation's failure is returned as its result
                    results.append(alone[0])
        settle([(fut, ok, value) for (_op, fut), (ok, value) in zip(batch, results, strict=True)])

    def _transaction(
        self, conn: sqlite3.Connection, ops: list[WriteOp], *, alone: bool
    ) -> list[tuple[bool, Any]] | None:
        """[(ok, result)] once committed. If an operation raises, all are rolled back: None, for the caller to run
        each alone, or with `alone` (one operation, run as itself) [(False, the error)]. A database locked by
        another process raises `_Locked` before anything ran."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise _Locked(exc) from None
            raise
        try:
            results = _run_ops(conn, ops)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(False, exc)] if alone else None
        self.checkpointer.nudge()
        self.commits += 1
        self.operations += len(ops)
        return results


class Checkpointer:
    """Checkpoints the write-ahead log on a thread of its own, at most every `interval` seconds while writes come
    in. SQLite would otherwise checkpoint inside the commit that crosses its threshold: copy the log into the
    database and sync both files (milliseconds, or tens of them on a slow disk), on the event loop's thread,
    stalling every request. A checkpoint here waits for no one (PASSIVE): what it cannot copy now, the next
    one does."""

    def __init__(self, path: Path, interval: float = 0.25) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="runyard-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """A commit happened: a checkpoint is due within `interval`."""
        if not self._due.is_set():
            self._due.set()

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._due.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        conn = connect(self.path)
        try:
            while True:
                self._due.wait()
                if self._stopping.is_set():
                    return
                self._due.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # busy with another process's checkpoint, or a disk error: next time
                    log.warning("WAL checkpoint failed: %s", exc)
                self._stopping.wait(self.interval)
        finally:
            conn.close()


class _Locked(Exception):
    """Another connection holds the write lock: nothing of the batch ran."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _fail_closed(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(sqlite3.ProgrammingError("the store was closed before this write ran"))


class Readers:
    """Reader connections, one per pool thread."""

    def __init__(self, path: Path, size: int = 4) -> None:
        self.path = path
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="runyard-sqlite-reader")
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(self._conn()))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
