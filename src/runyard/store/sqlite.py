"""The SQLite store (the embedded default): WAL, one group-committing writer on the event loop, reader threads."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from runyard.ids import new_ulid, now_us
from runyard.logcap import capped_lines, truncation_notice
from runyard.models import (
    ApiKey,
    Attempt,
    AttemptStatus,
    Claimed,
    EndReason,
    LogLine,
    Queue,
    Run,
    RunStatus,
)
from runyard.records import batch_status
from runyard.store import rows
from runyard.store.base import (
    BatchItemError,
    BatchRecord,
    ClaimParams,
    CompleteParams,
    Conflict,
    EnqueueParams,
    EnqueueResult,
    FailParams,
    FireParams,
    FireResult,
    ListRunsParams,
    LogSize,
    NotFound,
    RunPage,
    Store,
)
from runyard.store.sqlfile import migrations
from runyard.store.sqlite_claim import ClaimCursors, claim
from runyard.store.sqlite_complete import CompleteAttempt
from runyard.store.sqlite_conn import InsertRow, Readers, Writer
from runyard.store.sqlite_enqueue import enqueue as _enqueue
from runyard.store.sqlite_enqueue import enqueue_many as _enqueue_many
from runyard.store.sqlite_enqueue import new_run as _new_run
from runyard.store.sqlite_enqueue import plain as _plain
from runyard.store.sqlite_enqueue import run_or_raise as _run_or_raise
from runyard.store.sqlite_evals import SqliteEvals
from runyard.store.sqlite_schedules import SqliteSchedules
from runyard.store.sqlite_sql import Q
from runyard.store.sqlite_sql import all_ as _all
from runyard.store.sqlite_sql import exec_ as _exec
from runyard.store.sqlite_sql import one as _one

LEASE_LOST_ERROR = {"message": "the worker running this attempt stopped heartbeating", "name": "LEASE_EXPIRED"}


def _log_size(conn: sqlite3.Connection, run_id: str) -> LogSize:
    row = _one(conn, "log_size", {"run_id": run_id})
    if row is None:
        return LogSize()
    return LogSize(lines=int(row["lines"]), bytes=int(row["bytes"]), truncated=bool(row["truncated"]))


def _json_list(values: Sequence[str] | None) -> str | None:
    return None if values is None else rows.json_text(values)


def _statements(sql: str) -> list[str]:
    out, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in current.splitlines()):
        raise ValueError(f"incomplete SQL statement in a migration: {current.strip()[:80]}")
    return out


def _filters(params: ListRunsParams) -> dict[str, Any]:
    return {
        "statuses": _json_list(params.statuses), "tasks": _json_list(params.tasks),
        "queues": _json_list(params.queues), "triggered_by": _json_list(params.triggered_by),
        "tags": _json_list(params.tags), "batch_id": params.batch_id, "concurrency_key": params.concurrency_key,
        "created_from": params.created_from, "created_to": params.created_to,
        "exit_code_min": params.exit_code_min, "exit_code_max": params.exit_code_max,
        "retries_only": int(params.retries_only), "failed": None if params.failed is None else int(params.failed),
        "search": params.search or None,
    }  # fmt: skip


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration not yet applied, under the write lock (safe with several processes)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)")
        applied = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for number, _name, sql in migrations("sqlite"):
            if number not in applied:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (number, now_us()))
                applied.add(number)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(applied, default=0)


def _end_attempt(conn: sqlite3.Connection, attempt_id: str, status: AttemptStatus, **extra: Any) -> str | None:
    row = _one(
        conn,
        "end_attempt",
        {
            "id": attempt_id, "status": status.value, "now": now_us(),
            "error": rows.json_text(extra.get("error")), "exit_code": extra.get("exit_code"),
        },
    )  # fmt: skip
    return None if row is None else str(row["run_id"])


def _fail(conn: sqlite3.Connection, p: FailParams) -> Run | None:
    run_id = _end_attempt(conn, p.attempt_id, p.attempt_status, error=p.error, exit_code=p.exit_code)
    if run_id is None:
        return None
    args: dict[str, Any] = {
        "id": run_id, "attempt_id": p.attempt_id, "now": now_us(), "error": rows.json_text(p.error),
    }  # fmt: skip
    row = None
    if p.retry_at is not None:
        row = _one(conn, "requeue_run", {**args, "available_at": p.retry_at})
    if row is None:  # no retry, or one as a new run (RunWisp's model), or the attempt lost its run
        ended = {"status": p.run_status.value, "end_reason": p.end_reason.value, "exit_code": p.exit_code}
        row = _one(conn, "end_run", {**args, **ended})
        if row is not None and p.retry_at is not None and row["retry_as_new_run"]:
            retry = {"new_id": p.retry_run_id or new_ulid(), "retry_of": run_id, "available_at": p.retry_at}
            _exec(conn, "insert_retry_run", {**retry, "now": args["now"]})
    return None if row is None else rows.run_from_row(row)


def _rescue_lost_leases(conn: sqlite3.Connection, now: int) -> tuple[list[str], list[str]]:
    requeued: list[str] = []
    crashed: list[str] = []
    for lost in _all(conn, "lost_leases", {"now": now}):
        retry = lost["attempt_count"] < lost["max_attempts"]
        retry_run_id = new_ulid()
        run = _fail(
            conn,
            FailParams(
                attempt_id=lost["attempt_id"],
                error=LEASE_LOST_ERROR,
                attempt_status=AttemptStatus.CRASHED,
                run_status=RunStatus.CRASHED,
                end_reason=EndReason.CRASHED,
                exit_code=-1,
                retry_at=now_us() if retry else None,
                retry_run_id=retry_run_id,
            ),
        )
        if retry and run is not None and run.retry_as_new_run:  # ended as crashed; a new run retries it
            crashed.append(lost["run_id"])
            requeued.append(retry_run_id)
        else:
            (requeued if retry else crashed).append(lost["run_id"])
    _exec(conn, "release_stale_attempts", {"now": now})  # canceled attempts whose workers are gone
    return requeued, crashed


class SqliteStore(SqliteSchedules, SqliteEvals, Store):
    def __init__(self, path: Path, *, readers: int = 4) -> None:
        self.path = path
        self._readers_size = readers
        self.write_transactions = 0  # committed write transactions of closed writers (see `writes`)
        self._writer: Writer | None = None
        self._readers: Readers | None = None
        self._claim_cursors = ClaimCursors()

    # -- lifecycle --------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._writer is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = Writer(self.path)
        self._writer.start(init=migrate)
        self._readers = Readers(self.path, self._readers_size)

    @property
    def writes(self) -> int:
        """How many write transactions this store has committed (tests check that an idle server writes none)."""
        return self.write_transactions + (self._writer.commits if self._writer is not None else 0)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self.write_transactions += self._writer.commits
            self._writer = None
        if self._readers is not None:
            self._readers.close()
            self._readers = None

    async def _write(self, op: Any) -> Any:
        if self._writer is None:
            raise RuntimeError("the store is not open")
        return await self._writer.submit(op)

    async def _read(self, fn: Any) -> Any:
        if self._readers is None:
            raise RuntimeError("the store is not open")
        return await self._readers.run(fn)

    async def schema_version(self) -> int:
        version: int = await self._read(
            lambda c: c.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
        )
        return version

    # -- runs: writes -------------------------------------------------------------------------------
    async def enqueue(self, params: EnqueueParams) -> EnqueueResult:
        def looked_up(conn: sqlite3.Connection) -> EnqueueResult:
            return _enqueue(conn, params, now_us())

        if _plain(params, request_key=True) and params.batch_id is None:
            # nothing to look up: a row, merged with its neighbours. A request key's repeat makes the merged
            # insert fail on its unique index; the writer then runs this write as `enqueue`, which finds its run.
            run, row = _new_run(params, now_us())
            alone = None if params.request_key is None else looked_up
            inserted: EnqueueResult = await self._write(InsertRow("insert_run", row, EnqueueResult(run=run), alone))
            return inserted
        result: EnqueueResult = await self._write(looked_up)
        return result

    async def enqueue_many(self, params: list[EnqueueParams]) -> list[EnqueueResult]:
        def op(conn: sqlite3.Connection) -> list[EnqueueResult]:
            return _enqueue_many(conn, params, now_us())  # one transaction: all or none

        results: list[EnqueueResult] = await self._write(op)
        return results

    async def stop_replicas(self, task: str | None, end_reason: EndReason) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            now = now_us()
            args = {"task": task, "end_reason": end_reason.value, "now": now}
            stopped = [r["id"] for r in _all(conn, "stop_live_replicas", args)]
            for run_id in stopped:
                _exec(conn, "cancel_attempts", {"run_id": run_id, "now": now})
            return stopped

        stopped: list[str] = await self._write(op)
        return stopped

    async def fire_schedule(self, params: FireParams) -> FireResult:
        def op(conn: sqlite3.Connection) -> FireResult:
            now = now_us()
            moved = _exec(
                conn,
                "advance_schedule",
                {
                    "id": params.schedule_id, "expected_key": params.expected_key, "next_key": params.next_key,
                    "next_run_at": params.next_run_at, "last_run_at": params.last_run_at, "now": now,
                },
            )  # fmt: skip
            if not moved:
                return FireResult(fired=False)
            return FireResult(fired=True, results=[_enqueue(conn, p, now) for p in params.runs])

        result: FireResult = await self._write(op)
        return result

    async def claim_batch(self, params: ClaimParams) -> list[Claimed]:
        if params.limit <= 0:
            return []
        claimed: list[Claimed] = await self._write(lambda c: claim(c, params, self._claim_cursors))
        return claimed

    async def heartbeat(self, worker_id: str, attempt_ids: list[str], lease_s: float) -> list[str]:
        if not attempt_ids:
            return []

        def op(conn: sqlite3.Connection) -> list[str]:
            args = {"ids": rows.json_text(attempt_ids), "worker_id": worker_id}
            owned = {r["id"] for r in _all(conn, "owned_attempts", args)}
            _exec(conn, "extend_leases", {**args, "lease_expires_at": now_us() + int(lease_s * 1_000_000)})
            return [a for a in attempt_ids if a not in owned]

        lost: list[str] = await self._write(op)
        return lost

    async def complete_attempt(self, params: CompleteParams) -> Run | None:
        done: Run | None = await self._write(CompleteAttempt(params))  # with the turn's other completions
        return done

    async def fail_attempt(self, params: FailParams) -> Run | None:
        done: Run | None = await self._write(lambda c: _fail(c, params))
        return done

    async def cancel(self, run_id: str) -> Run:
        def op(conn: sqlite3.Connection) -> Run:
            now = now_us()
            if _exec(conn, "cancel_run", {"id": run_id, "now": now}):
                _exec(conn, "cancel_attempts", {"run_id": run_id, "now": now})
            return _run_or_raise(conn, run_id)

        run: Run = await self._write(op)
        return run

    async def release_attempt(self, attempt_id: str) -> bool:
        released: bool = await self._write(
            lambda c: _exec(c, "release_attempt", {"id": attempt_id, "now": now_us()}) == 1
        )
        return released

    async def reschedule(self, run_id: str, delay_until: int) -> Run:
        def op(conn: sqlite3.Connection) -> Run:
            changed = _exec(conn, "reschedule_run", {"id": run_id, "available_at": delay_until, "now": now_us()})
            run = _run_or_raise(conn, run_id)
            if not changed:
                raise Conflict(f"only a delayed run can be rescheduled; this run is {run.status.value}")
            return run

        run: Run = await self._write(op)
        return run

    async def update_run_info(
        self, run_id: str, *, tags: list[str] | None = None, metadata: dict[str, Any] | None = None
    ) -> Run:
        def op(conn: sqlite3.Connection) -> Run:
            now = now_us()
            if tags is not None:
                _exec(conn, "set_run_tags", {"id": run_id, "tags": rows.json_text(tags), "now": now})
            if metadata is not None:
                _exec(conn, "set_run_metadata", {"id": run_id, "metadata": rows.json_text(metadata), "now": now})
            return _run_or_raise(conn, run_id)

        run: Run = await self._write(op)
        return run

    async def add_run_tags(self, run_id: str, tags: list[str], max_tags: int) -> tuple[Run, int]:
        def op(conn: sqlite3.Connection) -> tuple[Run, int]:
            run = _run_or_raise(conn, run_id)
            new = [t for t in dict.fromkeys(tags) if t not in run.tags]
            if not new:
                return run, 0
            merged = [*run.tags, *new]
            if len(merged) > max_tags:
                raise Conflict(f"Too many tags: at most {max_tags} tags per run, got {len(merged)}")
            _exec(conn, "set_run_tags", {"id": run_id, "tags": rows.json_text(merged), "now": now_us()})
            return _run_or_raise(conn, run_id), len(new)

        result: tuple[Run, int] = await self._write(op)
        return result

    async def promote_delayed(self, now: int) -> int:
        promoted: int = await self._write(lambda c: _exec(c, "promote_delayed", {"now": now}))
        return promoted

    async def expire_runs(self, now: int) -> list[str]:
        expired: list[str] = await self._write(lambda c: [r["id"] for r in _all(c, "expire_runs", {"now": now})])
        return expired

    async def rescue_lost_leases(self, now: int) -> tuple[list[str], list[str]]:
        found: tuple[list[str], list[str]] = await self._write(lambda c: _rescue_lost_leases(c, now))
        return found

    # -- runs: reads ---------------------------------------------------------------------------------
    async def get_run(self, run_id: str) -> Run | None:
        row = await self._read(lambda c: _one(c, "run_by_id", {"id": run_id}))
        return None if row is None else rows.run_from_row(row)

    async def list_runs(self, params: ListRunsParams) -> RunPage:
        limit = max(1, min(params.limit, 1000))
        if params.sort is not None:  # offset pages in a chosen order
            sorted_args = {**_filters(params), "sort": params.sort, "descending": int(params.descending),
                           "limit": limit, "offset": max(0, params.offset)}  # fmt: skip
            found = await self._read(lambda c: _all(c, "list_runs_sorted", sorted_args))
            return RunPage(runs=[rows.run_from_row(r) for r in found])
        args = {**_filters(params), "after": params.after, "before": params.before, "limit": limit + 1}
        backwards = params.before is not None and params.after is None
        found = await self._read(lambda c: _all(c, "list_runs_asc" if backwards else "list_runs_desc", args))
        runs = [rows.run_from_row(r) for r in found[:limit]]
        more = len(found) > limit
        if backwards:
            runs.reverse()
            return RunPage(
                runs=runs,
                next_cursor=runs[-1].id if runs else None,
                prev_cursor=runs[0].id if runs and more else None,
            )
        return RunPage(
            runs=runs,
            next_cursor=runs[-1].id if runs and more else None,
            prev_cursor=runs[0].id if runs and params.after is not None else None,
        )

    async def count_runs(self, params: ListRunsParams) -> int:
        args = _filters(params)
        row = await self._read(lambda c: _one(c, "count_runs", args))
        return 0 if row is None else int(row["n"])

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        found = await self._read(lambda c: _all(c, "attempts_of_run", {"run_id": run_id}))
        return [rows.attempt_from_row(r) for r in found]

    async def next_due_at(self) -> int | None:
        row = await self._read(lambda c: _one(c, "next_due_at", {"now": now_us()}))
        return None if row is None or row["due"] is None else int(row["due"])

    async def count_by_status(self) -> dict[RunStatus, int]:
        found = await self._read(lambda c: _all(c, "count_by_status"))
        return {RunStatus(r["status"]): r["n"] for r in found}

    # -- queues -------------------------------------------------------------------------------------
    async def upsert_queue(self, name: str, concurrency_limit: int | None) -> Queue:
        def op(conn: sqlite3.Connection) -> Queue:
            _exec(conn, "upsert_queue", {"name": name, "concurrency_limit": concurrency_limit})
            row = _one(conn, "queue_by_name", {"name": name})
            assert row is not None
            return rows.queue_from_row(row)

        queue: Queue = await self._write(op)
        return queue

    async def get_queue(self, name: str) -> Queue | None:
        row = await self._read(lambda c: _one(c, "queue_by_name", {"name": name}))
        return None if row is None else rows.queue_from_row(row)

    async def list_queues(self) -> list[Queue]:
        found = await self._read(lambda c: _all(c, "list_queues"))
        return [rows.queue_from_row(r) for r in found]

    # -- logs ---------------------------------------------------------------------------------------
    async def append_logs(
        self, run_id: str, attempt: int, lines: list[tuple[str, str]], cap_bytes: int | None = None
    ) -> LogSize:
        def op(conn: sqlite3.Connection) -> LogSize:
            size = _log_size(conn, run_id)
            if not lines or size.truncated:
                return size
            kept, used = capped_lines(lines, size.bytes, cap_bytes)
            truncated = len(kept) < len(lines)
            if truncated:
                kept.append(("system", truncation_notice(cap_bytes or 0)))
            ts = now_us()
            conn.executemany(
                Q["insert_log"],
                [
                    {"run_id": run_id, "seq": size.lines + i, "attempt": attempt, "stream": s, "ts": ts, "text": t}
                    for i, (s, t) in enumerate(kept, start=1)
                ],
            )
            size = LogSize(lines=size.lines + len(kept), bytes=used, truncated=truncated)
            _exec(conn, "set_log_size", {"run_id": run_id, "lines": size.lines, "bytes": size.bytes,
                                         "truncated": int(truncated)})  # fmt: skip
            return size

        result: LogSize = await self._write(op)
        return result

    async def log_size(self, run_id: str) -> LogSize:
        result: LogSize = await self._read(lambda c: _log_size(c, run_id))
        return result

    async def last_log_seq(self, run_id: str) -> int:
        row = await self._read(lambda c: _one(c, "last_log_seq", {"run_id": run_id}))
        return 0 if row is None else int(row["seq"])

    async def read_logs(self, run_id: str, after_seq: int = 0, limit: int = 1000) -> list[LogLine]:
        args = {"run_id": run_id, "after_seq": after_seq, "limit": limit}
        found = await self._read(lambda c: _all(c, "read_logs", args))
        return [rows.log_from_row(r) for r in found]

    # -- batches ------------------------------------------------------------------------------------
    async def create_batch(self, batch: BatchRecord) -> tuple[BatchRecord, bool]:
        def op(conn: sqlite3.Connection) -> tuple[BatchRecord, bool]:
            if batch.idempotency_key is not None:
                row = _one(conn, "batch_by_idempotency_key", {"idempotency_key": batch.idempotency_key})
                if row is not None:
                    ids = [r["id"] for r in _all(conn, "batch_run_ids", {"batch_id": row["id"]})]
                    return rows.batch_from_row(row, ids), True
            _exec(
                conn,
                "insert_batch",
                {
                    "id": batch.id, "run_count": batch.run_count, "status": batch.status.value,
                    "idempotency_key": batch.idempotency_key,
                    "task_identifiers": rows.json_text(batch.task_identifiers),
                    "created_at": batch.created_at, "updated_at": batch.updated_at,
                },
            )  # fmt: skip
            return batch, False

        result: tuple[BatchRecord, bool] = await self._write(op)
        return result

    async def get_batch(self, batch_id: str) -> BatchRecord | None:
        def fn(conn: sqlite3.Connection) -> BatchRecord | None:
            row = _one(conn, "batch_by_id", {"id": batch_id})
            if row is None:
                return None
            ids = [r["id"] for r in _all(conn, "batch_run_ids", {"batch_id": batch_id})]
            return rows.batch_from_row(row, ids)

        batch: BatchRecord | None = await self._read(fn)
        return batch

    async def record_batch_items(
        self, batch_id: str, errors: list[BatchItemError], *, seal: bool = False
    ) -> BatchRecord:
        def op(conn: sqlite3.Connection) -> BatchRecord:
            row = _one(conn, "batch_by_id", {"id": batch_id})
            if row is None:
                raise NotFound(f"batch {batch_id} not found")
            ids = _one(conn, "batch_run_ids_text", {"batch_id": batch_id})
            batch = rows.batch_from_row(row, ids["ids"].split(",") if ids and ids["ids"] else [])
            if seal and batch.sealed:
                raise Conflict("batch is already sealed")
            merged = {e.index: e for e in batch.errors}
            for error in errors:
                merged.setdefault(error.index, error)
            all_errors = sorted(merged.values(), key=lambda e: e.index)
            sealed = batch.sealed or seal or len(batch.run_ids) + len(all_errors) >= batch.run_count
            if sealed == batch.sealed and len(all_errors) == len(batch.errors):
                return batch
            status, now = batch_status(all_errors, sealed), now_us()
            args = {"id": batch_id, "status": status.value, "errors": rows.json_text(all_errors), "sealed": int(sealed)}
            _exec(conn, "update_batch", {**args, "now": now})
            return msgspec.structs.replace(batch, errors=all_errors, sealed=sealed, status=status, updated_at=now)

        result: BatchRecord = await self._write(op)
        return result

    # -- packets ------------------------------------------------------------------------------------------
    async def create_packet(self, path: str, upload_token: str, expires_at: int) -> None:
        args = {"path": path, "upload_token": upload_token, "expires_at": expires_at, "now": now_us()}
        await self._write(lambda c: _exec(c, "upsert_packet", args))

    async def fill_packet(self, upload_token: str, data: bytes, content_type: str) -> bool:
        args = {"upload_token": upload_token, "data": data, "content_type": content_type, "now": now_us()}
        filled: int = await self._write(lambda c: _exec(c, "fill_packet", args))
        return filled == 1

    async def get_packet(self, path: str) -> tuple[bytes, str] | None:
        row = await self._read(lambda c: _one(c, "packet_by_path", {"path": path}))
        return None if row is None else (bytes(row["data"]), str(row["content_type"]))

    async def server_secret(self, name: str, candidate: bytes) -> bytes:
        args = {"name": name, "value": candidate, "now": now_us()}

        def run(c: sqlite3.Connection) -> bytes:
            _exec(c, "insert_server_secret", args)
            row = _one(c, "server_secret", {"name": name})
            assert row is not None  # inserted above or by an earlier caller
            return bytes(row["value"])

        secret: bytes = await self._write(run)
        return secret

    # -- api keys -------------------------------------------------------------------------------------
    async def create_api_key(self, key: ApiKey, key_hash: str) -> bool:
        args = {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "key_hash": key_hash,
            "created_at": key.created_at,
        }
        stored: int = await self._write(lambda c: _exec(c, "insert_api_key", args))
        return stored == 1

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        row = await self._read(lambda c: _one(c, "api_key_by_hash", {"key_hash": key_hash}))
        return None if row is None else rows.api_key_from_row(row)

    async def list_api_keys(self) -> list[ApiKey]:
        found = await self._read(lambda c: _all(c, "list_api_keys"))
        return [rows.api_key_from_row(r) for r in found]

    async def revoke_api_key(self, key_id: str) -> bool:
        changed: int = await self._write(lambda c: _exec(c, "revoke_api_key", {"id": key_id, "now": now_us()}))
        return changed == 1
