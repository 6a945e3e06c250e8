"""SQLite connections: one writer thread with group commit, and a pool of reader threads.

Every write is a function run on the writer's connection. The writer takes whatever is waiting (up to
`max_batch` operations), runs them in one transaction, commits once, then resolves each caller's future
with its own result. If one operation raises, the batch is rolled back and its operations are run again
one transaction each, so an error stays with its own caller. Many concurrent triggers thus share one commit, and each
caller returns only after the commit that holds its write (WAL + synchronous=NORMAL: durable against a
process crash). Readers use their own connections and never write.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from runyard.store.sqlite_sql import exec_, insert_many

T = TypeVar("T")
WriteOp = Callable[[sqlite3.Connection], Any]
_Job = tuple[WriteOp, "asyncio.Future[Any]", asyncio.AbstractEventLoop]

BUSY_TIMEOUT_MS = 10_000


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


def _resolve(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for fut, ok, value in items:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class InsertRow:
    """A write that is one row of a named INSERT, with the result its caller gets once it is committed. The
    writer runs consecutive ones of a transaction as one multi-row INSERT (`insert_many`): concurrent triggers
    then cost the writer one SQLite step, not one each (every step gives up the interpreter lock, which the
    event loop is slow to give back under load). Run alone, it is an ordinary insert."""

    __slots__ = ("query", "result", "row")

    def __init__(self, query: str, row: dict[str, Any], result: Any) -> None:
        self.query, self.row, self.result = query, row, result

    def __call__(self, conn: sqlite3.Connection) -> Any:
        exec_(conn, self.query, self.row)
        return self.result


def _run_ops(conn: sqlite3.Connection, ops: list[WriteOp]) -> list[tuple[bool, Any]]:
    """Every operation's result, in order; consecutive `InsertRow`s of one query as one `insert_many`."""
    results: list[tuple[bool, Any]] = []
    for query, group in itertools.groupby(ops, key=_insert_query):
        if query is None:
            results += [(True, op(conn)) for op in group]
        else:
            inserts = [op for op in group if isinstance(op, InsertRow)]
            insert_many(conn, query, [op.row for op in inserts])
            results += [(True, op.result) for op in inserts]
    return results


def _insert_query(op: WriteOp) -> str | None:
    return op.query if isinstance(op, InsertRow) else None


class Writer:
    def __init__(self, path: Path, max_batch: int = 512) -> None:
        self.path = path
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="runyard-sqlite-writer", daemon=True)
        self._conn: sqlite3.Connection | None = None
        self.commits = 0
        self.operations = 0

    def start(self, init: WriteOp | None = None) -> None:
        self._conn = connect(self.path)
        if init is not None:
            init(self._conn)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def submit(self, op: WriteOp) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._jobs.put((op, fut, loop))
        return fut

    def _run(self) -> None:
        assert self._conn is not None
        conn = self._conn
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._commit(conn, batch)

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        """Run the batch in one transaction. If any operation raises, the transaction is rolled back and
        each operation is run again alone, so one caller's error never undoes another caller's write."""
        results = self._transaction(conn, [op for op, _fut, _loop in batch])
        if results is None:
            results = []
            for op, _fut, _loop in batch:
                alone = self._transaction(conn, [op])
                assert alone is not None  # a lone operation's failure is returned as its result
                results.append(alone[0])
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = defaultdict(list)
        for (_op, fut, loop), (ok, value) in zip(batch, results, strict=True):
            by_loop[loop].append((fut, ok, value))
        for loop, items in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, items)

    def _transaction(self, conn: sqlite3.Connection, ops: list[WriteOp]) -> list[tuple[bool, Any]] | None:
        """[(ok, result)] once committed; None if an operation of several raised (all rolled back)."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = _run_ops(conn, ops)
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return None if len(ops) > 1 else [(False, exc)]
        self.commits += 1
        self.operations += len(ops)
        return results


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
