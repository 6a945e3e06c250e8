"""The SQLite store's run creation: idempotency, request and batch keys, schedule ticks, overlap rules."""

from __future__ import annotations

import sqlite3

from runyard.models import EndReason, OverlapPolicy, Run, RunStatus, TriggeredBy
from runyard.store import rows
from runyard.store.base import EnqueueParams, EnqueueResult, NotFound
from runyard.store.sqlite_sql import all_ as _all
from runyard.store.sqlite_sql import exec_ as _exec
from runyard.store.sqlite_sql import insert_many
from runyard.store.sqlite_sql import one as _one

# How a run that ends before it starts is recorded: (engine status, error message).
UNSTARTED_ENDINGS = {
    EndReason.SKIPPED: (RunStatus.CANCELED, "skipped: the task was busy and its on_overlap policy is skip"),
    EndReason.QUEUE_FULL: (RunStatus.FAILED, "queue full: the task already has max_queued runs waiting"),
    EndReason.MISSED: (RunStatus.EXPIRED, "missed: the tick passed while no server was up"),
    EndReason.DST_SKIPPED: (RunStatus.EXPIRED, "dst_skipped: the local time did not exist (the clock sprang forward)"),
}


def enqueue_many(conn: sqlite3.Connection, params: list[EnqueueParams], now: int) -> list[EnqueueResult]:
    """Several runs in the caller's transaction. The items of a batch with no runs yet are inserted without
    looking each one up (a retried batch request, whose items exist, is looked up item by item)."""
    fresh = {
        batch_id
        for batch_id in {p.batch_id for p in params if p.batch_id is not None}
        if not _one(conn, "batch_has_runs", {"batch_id": batch_id})["found"]  # type: ignore[index]
    }
    if all(p.batch_id in fresh and plain(p) for p in params):  # nothing to look up: one statement for all
        made = [new_run(p, now) for p in params]
        insert_many(conn, "insert_run", [row for _run, row in made])
        return [EnqueueResult(run=run) for run, _row in made]
    return [enqueue(conn, p, now, new_batch=p.batch_id in fresh) for p in params]


def plain(p: EnqueueParams, *, request_key: bool = False) -> bool:
    """A run that `enqueue` would insert without a lookup or a rule: no keys, no schedule, no overlap.
    `request_key=True`: a request key is allowed (its unique index refuses a repeat, which the caller must
    then run as `enqueue`, which finds the run the key names)."""
    return (
        (request_key or p.request_key is None) and p.idempotency_key is None and p.schedule_id is None
        and p.overlap is None
        and p.end_reason is None and p.triggered_by is not TriggeredBy.SERVICE and p.queue_limit is None
        and not p.set_queue_limit
    )  # fmt: skip


def run_or_raise(conn: sqlite3.Connection, run_id: str) -> Run:
    row = _one(conn, "run_by_id", {"id": run_id})
    if row is None:
        raise NotFound(run_id)
    return rows.run_from_row(row)


# The values of `insert_run`, in order (a test checks them against the query's VALUES list).
INSERT_RUN_COLUMNS = (
    "id", "task", "status", "queue", "concurrency_key", "payload", "payload_type", "context", "tags", "metadata",
    "idempotency_key", "idempotency_expires_at", "request_key", "priority", "available_at", "expires_at", "ttl_s",
    "max_attempts", "max_duration_s", "triggered_by", "replay_of", "batch_id", "batch_index", "created_at",
    "updated_at", "delayed_until", "schedule_id", "schedule_key", "replica_index", "retry_as_new_run",
)  # fmt: skip


def new_run(p: EnqueueParams, now: int) -> tuple[Run, tuple[object, ...]]:
    """The run `p` makes, and its row for `insert_run` (values in the order of INSERT_RUN_COLUMNS)."""
    available_at = p.delay_until if p.delay_until is not None and p.delay_until > now else now
    status = RunStatus.DELAYED if available_at > now else RunStatus.QUEUED
    expires_at = available_at + int(p.ttl_s * 1_000_000) if p.ttl_s is not None else None
    idem_expires = now + int((p.idempotency_ttl_s or 0) * 1_000_000) if p.idempotency_key is not None else None
    run = Run(
        id=p.id,
        task=p.task,
        status=status,
        queue=p.queue,
        payload=p.payload,
        payload_type=p.payload_type,
        context=p.context,
        tags=list(p.tags),
        metadata=p.metadata,
        concurrency_key=p.concurrency_key,
        idempotency_key=p.idempotency_key,
        idempotency_expires_at=idem_expires,
        request_key=p.request_key,
        priority=p.priority,
        available_at=available_at,
        expires_at=expires_at,
        ttl_s=p.ttl_s,
        max_attempts=p.max_attempts,
        max_duration_s=p.max_duration_s,
        triggered_by=p.triggered_by,
        replay_of=p.replay_of,
        batch_id=p.batch_id,
        created_at=now,
        updated_at=now,
        delayed_until=available_at if status is RunStatus.DELAYED else None,
        schedule_id=p.schedule_id,
        replica_index=p.replica_index,
        retry_as_new_run=p.retry_as_new_run,
    )
    row = (
        run.id,
        run.task,
        run.status.value,
        run.queue,
        run.concurrency_key,
        run.payload,
        run.payload_type,
        run.context,
        rows.json_text(run.tags),
        rows.json_text(run.metadata),
        run.idempotency_key,
        idem_expires,
        run.request_key,
        run.priority,
        available_at,
        expires_at,
        run.ttl_s,
        run.max_attempts,
        run.max_duration_s,
        run.triggered_by.value,
        run.replay_of,
        run.batch_id,
        p.batch_index,
        now,
        now,
        run.delayed_until,
        p.schedule_id,
        p.schedule_key,
        p.replica_index,
        int(p.retry_as_new_run),
    )  # in the order of INSERT_RUN_COLUMNS: a tuple, not a dict by name, costs a batch's run about 3 µs less
    return run, row


def _insert_run(conn: sqlite3.Connection, p: EnqueueParams, now: int) -> Run:
    run, row = new_run(p, now)
    insert_many(conn, "insert_run", [row])
    return run


def enqueue(conn: sqlite3.Connection, p: EnqueueParams, now: int, *, new_batch: bool = False) -> EnqueueResult:
    """Create the run `p` describes, or return the run its keys already name. `new_batch`: the caller has
    checked that `p.batch_id` has no runs yet, so no batch item can exist (a batch's items skip the lookup)."""
    existing = None
    if p.request_key is not None:
        existing = _one(conn, "run_by_request_key", {"request_key": p.request_key})
    if existing is None and p.batch_id is not None and p.batch_index is not None and not new_batch:
        existing = _one(conn, "run_by_batch_item", {"batch_id": p.batch_id, "batch_index": p.batch_index})
    if existing is None and p.idempotency_key is not None:
        existing = _one(
            conn,
            "run_holding_idempotency_key",
            {"task": p.task, "idempotency_key": p.idempotency_key, "now": now},
        )
    if existing is None and p.triggered_by is TriggeredBy.SERVICE:
        existing = _one(conn, "live_replica", {"task": p.task, "replica_index": p.replica_index})
    if existing is None and p.schedule_id is not None:
        existing = _one(conn, "run_by_schedule_tick", {"schedule_id": p.schedule_id, "schedule_key": p.schedule_key})
    if existing is not None:
        return EnqueueResult(run=rows.run_from_row(existing), cached=True)
    end_reason, stopped = p.end_reason, []
    if end_reason is None and p.overlap is not None and p.overlap.limit is not None:
        busy = _one(conn, "task_activity", {"task": p.task})
        assert busy is not None
        if busy["executing"] >= p.overlap.limit:
            if p.overlap.policy is OverlapPolicy.SKIP:
                end_reason = EndReason.SKIPPED
            elif p.overlap.policy is OverlapPolicy.KILL:
                stopped = [r["id"] for r in _all(conn, "stop_executing_runs_of_task", {"task": p.task, "now": now})]
                for run_id in stopped:
                    _exec(conn, "cancel_attempts", {"run_id": run_id, "now": now})
            elif busy["pending"] >= p.overlap.max_queued:
                end_reason = EndReason.QUEUE_FULL
    if end_reason is not None:
        run = _insert_run(conn, p, now)
        status, message = UNSTARTED_ENDINGS[end_reason]
        error = {"message": message, "name": end_reason.value.upper()}
        args = {"id": run.id, "status": status.value, "end_reason": end_reason.value, "now": now}
        _exec(conn, "end_unstarted_run", {**args, "error": rows.json_text(error)})
        return EnqueueResult(run=run_or_raise(conn, run.id))
    if p.set_queue_limit:
        _exec(conn, "upsert_queue", {"name": p.queue, "concurrency_limit": p.queue_limit})
    elif p.queue_limit is not None:
        _exec(conn, "insert_queue_if_missing", {"name": p.queue, "concurrency_limit": p.queue_limit})
    return EnqueueResult(run=_insert_run(conn, p, now), stopped=stopped)
