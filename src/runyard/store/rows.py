"""Database rows to domain objects, shared by every backend (rows are mappings by column name)."""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol

import msgspec

from runyard.models import (
    ApiKey,
    Attempt,
    AttemptStatus,
    EndReason,
    LogLine,
    Queue,
    Run,
    RunStatus,
    Schedule,
    TriggeredBy,
)
from runyard.records import BatchItemError, BatchRecord, BatchStatus


class Row(Protocol):
    """A database row addressable by column name (sqlite3.Row, psycopg dict rows)."""

    def __getitem__(self, key: str, /) -> Any: ...


_decode = msgspec.json.decode
encode_json = msgspec.json.encode

# Enum members by value: a dict lookup, where calling the enum class costs about a microsecond (three a run).
_RUN_STATUS = {m.value: m for m in RunStatus}
_TRIGGERED_BY = {m.value: m for m in TriggeredBy}
_END_REASON = {m.value: m for m in EndReason}
_ATTEMPT_STATUS = {m.value: m for m in AttemptStatus}


def json_text(value: Any) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def _json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict | list):  # a backend that decodes JSON columns itself
        return value
    return _decode(value)


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


def _by_name(row: Row) -> Row:
    """The row as a dict: sqlite3.Row finds a column by name with a linear search of its columns, which made
    reading a run's forty columns by name cost more than building the run (about 9 of 13 µs). (Not `strict`: a
    row and its keys have one length, and checking it cost a third of this function, about 1 µs a row.)"""
    if isinstance(row, sqlite3.Row):
        return dict(zip(row.keys(), row, strict=False))
    return row


def run_from_row(row: Row) -> Run:
    row = _by_name(row)
    return Run(
        id=row["id"],
        task=row["task"],
        status=_RUN_STATUS[row["status"]],
        queue=row["queue"],
        concurrency_key=row["concurrency_key"],
        payload=_bytes(row["payload"]) or b"null",
        payload_type=row["payload_type"],
        context=_bytes(row["context"]),
        output=_bytes(row["output"]),
        output_type=row["output_type"],
        error=_json(row["error"]),
        tags=_json(row["tags"]) or [],
        metadata=_json(row["metadata"]),
        idempotency_key=row["idempotency_key"],
        idempotency_expires_at=row["idempotency_expires_at"],
        request_key=row["request_key"],
        priority=row["priority"],
        available_at=row["available_at"],
        expires_at=row["expires_at"],
        ttl_s=row["ttl_s"],
        max_attempts=row["max_attempts"],
        max_duration_s=row["max_duration_s"],
        attempt_count=row["attempt_count"],
        triggered_by=_TRIGGERED_BY[row["triggered_by"]],
        replay_of=row["replay_of"],
        batch_id=row["batch_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        delayed_until=row["delayed_until"],
        exit_code=row["exit_code"],
        end_reason=_END_REASON[row["end_reason"]] if row["end_reason"] else None,
        current_attempt_id=row["current_attempt_id"],
        schedule_id=row["schedule_id"],
        replica_index=row["replica_index"],
        retry_of=row["retry_of"],
        retry_as_new_run=bool(row["retry_as_new_run"]),
    )


def attempt_from_row(row: Row) -> Attempt:
    row = _by_name(row)
    return Attempt(
        id=row["id"],
        run_id=row["run_id"],
        number=row["number"],
        worker_id=row["worker_id"],
        status=_ATTEMPT_STATUS[row["status"]],
        lease_expires_at=row["lease_expires_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        error=_json(row["error"]),
        exit_code=row["exit_code"],
    )


def queue_from_row(row: Row) -> Queue:
    return Queue(name=row["name"], concurrency_limit=row["concurrency_limit"], paused=bool(row["paused"]))


def log_from_row(row: Row) -> LogLine:
    return LogLine(
        run_id=row["run_id"], seq=row["seq"], attempt=row["attempt"], stream=row["stream"], ts=row["ts"],
        text=row["text"],
    )  # fmt: skip


def batch_from_row(row: Row, run_ids: list[str]) -> BatchRecord:
    return BatchRecord(
        id=row["id"],
        run_count=row["run_count"],
        status=BatchStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        idempotency_key=row["idempotency_key"],
        task_identifiers=_json(row["task_identifiers"]) or [],
        errors=msgspec.convert(_json(row["errors"]) or [], list[BatchItemError]),
        run_ids=run_ids,
        sealed=bool(row["sealed"]),
    )


def api_key_from_row(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"], name=row["name"], prefix=row["prefix"], created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )  # fmt: skip


def schedule_from_row(row: Row) -> Schedule:
    return Schedule(
        id=row["id"],
        task=row["task"],
        cron=row["cron"],
        timezone=row["timezone"],
        active=bool(row["active"]),
        declarative=bool(row["declarative"]),
        external_id=row["external_id"],
        deduplication_key=row["deduplication_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_key=row["next_key"],
        next_run_at=row["next_run_at"],
        last_run_at=row["last_run_at"],
        payload=_bytes(row["payload"]),
        tags=msgspec.json.decode(row["tags"], type=list[str]) if row["tags"] else [],
    )
