"""The SQLite store's schedule operations (a part of SqliteStore: create, update, list, sync, due)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import msgspec

from runyard.ids import now_us
from runyard.models import Schedule
from runyard.store import rows
from runyard.store.base import ListSchedulesParams, NotFound, ScheduleParams
from runyard.store.sqlite_sql import all_, exec_, one


def _schedule_or_raise(conn: sqlite3.Connection, schedule_id: str) -> Schedule:
    row = one(conn, "schedule_by_id", {"id": schedule_id})
    if row is None:
        raise NotFound(schedule_id)
    return rows.schedule_from_row(row)


def _args(p: ScheduleParams, now: int) -> dict[str, Any]:
    return {
        "id": p.id, "task": p.task, "cron": p.cron, "timezone": p.timezone, "active": int(p.active),
        "declarative": int(p.declarative), "external_id": p.external_id, "deduplication_key": p.deduplication_key,
        "next_key": p.next_key, "next_run_at": p.next_run_at, "now": now, "payload": p.payload,
        "tags": msgspec.json.encode(p.tags).decode() if p.tags else None,
    }  # fmt: skip


def upsert(conn: sqlite3.Connection, p: ScheduleParams) -> tuple[Schedule, bool]:
    now = now_us()
    if p.deduplication_key is not None:
        row = one(conn, "schedule_by_deduplication_key", {"deduplication_key": p.deduplication_key})
        if row is not None:
            exec_(conn, "update_schedule", {**_args(p, now), "id": row["id"]})
            return _schedule_or_raise(conn, row["id"]), False
    exec_(conn, "insert_schedule", _args(p, now))
    return _schedule_or_raise(conn, p.id), True


class SqliteSchedules:
    """Mixed into SqliteStore, which provides `_write` and `_read`."""

    _write: Callable[[Callable[[sqlite3.Connection], Any]], Any]
    _read: Callable[[Callable[[sqlite3.Connection], Any]], Any]

    async def upsert_schedule(self, params: ScheduleParams) -> tuple[Schedule, bool]:
        result: tuple[Schedule, bool] = await self._write(lambda c: upsert(c, params))
        return result

    async def update_schedule(self, schedule_id: str, params: ScheduleParams) -> Schedule:
        def op(conn: sqlite3.Connection) -> Schedule:
            _schedule_or_raise(conn, schedule_id)
            exec_(conn, "update_schedule", {**_args(params, now_us()), "id": schedule_id})
            return _schedule_or_raise(conn, schedule_id)

        schedule: Schedule = await self._write(op)
        return schedule

    async def get_schedule(self, schedule_id: str) -> Schedule | None:
        row = await self._read(lambda c: one(c, "schedule_by_id", {"id": schedule_id}))
        return None if row is None else rows.schedule_from_row(row)

    async def get_schedule_by_key(self, deduplication_key: str) -> Schedule | None:
        args = {"deduplication_key": deduplication_key}
        row = await self._read(lambda c: one(c, "schedule_by_deduplication_key", args))
        return None if row is None else rows.schedule_from_row(row)

    async def list_schedules(self, params: ListSchedulesParams) -> tuple[list[Schedule], int]:
        def fn(conn: sqlite3.Connection) -> tuple[list[Schedule], int]:
            args = {"task": params.task, "limit": params.limit, "offset": params.offset}
            found = [rows.schedule_from_row(r) for r in all_(conn, "list_schedules", args)]
            total = one(conn, "count_schedules", {"task": params.task})
            return found, 0 if total is None else int(total["n"])

        result: tuple[list[Schedule], int] = await self._read(fn)
        return result

    async def delete_schedule(self, schedule_id: str) -> bool:
        deleted: int = await self._write(lambda c: exec_(c, "delete_schedule", {"id": schedule_id}))
        return deleted == 1

    async def sync_declarative_schedules(self, schedules: list[ScheduleParams]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            keep = [upsert(conn, p)[0].id for p in schedules]
            exec_(conn, "delete_stale_declarative", {"keep": rows.json_text(keep)})

        await self._write(op)

    async def due_schedules(self, now: int, limit: int) -> list[Schedule]:
        found = await self._read(lambda c: all_(c, "due_schedules", {"now": now, "limit": limit}))
        return [rows.schedule_from_row(r) for r in found]
