"""Claiming due runs on SQLite at a cost that does not grow with the number of waiting runs.

A claim visits the queues that have pending runs (a skip-scan of `runs_pending_by_queue`), and in a queue
with a concurrency limit the concurrency keys that have pending runs (a skip-scan of `runs_pending_queue`);
from each it reads only the first due runs in claim order, through the index. The candidates are merged in
claim order (priority, due time, id) and the first `limit` are started.

Queues without a limit contribute up to `limit` runs each; a (queue, key) partition contributes up to its
free slots, so a limit is never exceeded. At most `MAX_PARTITIONS` queues (and keys per queue) are visited
per claim; where there are more, the next claim starts where this one stopped, so every queue and key gets
its turn (a rotation, as in fair queueing), and the work of one claim stays bounded.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

from runyard.ids import new_ulid, now_us
from runyard.models import Claimed
from runyard.store import rows
from runyard.store.base import ClaimParams
from runyard.store.sqlite_sql import all_

MAX_PARTITIONS = 256


class ClaimCursors:
    """Where the next claim resumes, when more queues (or keys of a queue) wait than one claim visits."""

    def __init__(self) -> None:
        self.queues = ""
        self.keys: dict[str, str] = {}


def _rotating(conn: sqlite3.Connection, query: str, args: dict[str, Any], start: str) -> tuple[list[Any], str]:
    """Up to MAX_PARTITIONS names from `start` on, wrapping around; and where the next call should start."""
    found = all_(conn, query, {**args, "start": start, "max": MAX_PARTITIONS + 1})
    if len(found) > MAX_PARTITIONS:
        return found[:MAX_PARTITIONS], str(found[MAX_PARTITIONS]["name"])
    if start:
        wrapped = all_(conn, query, {**args, "start": "", "max": MAX_PARTITIONS - len(found)})
        found += [row for row in wrapped if row["name"] < start]
    return found, ""


def _candidates(conn: sqlite3.Connection, p: ClaimParams, now: int, cursors: ClaimCursors) -> list[Any]:
    base = {"now": now, "tasks": None if p.tasks is None else rows.json_text(p.tasks)}
    queues, cursors.queues = _rotating(conn, "pending_queues", {}, cursors.queues)
    candidates: list[Any] = []
    for queue in queues:
        limit, name = queue["concurrency_limit"], queue["name"]
        if queue["paused"] or limit == 0:
            continue
        if limit is None:
            candidates += all_(conn, "due_in_queue", {**base, "queue": name, "limit": p.limit})
            continue
        busy = Counter(row[0] for row in all_(conn, "busy_keys", {"queue": name}))
        keys, cursors.keys[name] = _rotating(conn, "pending_keys", {"queue": name}, cursors.keys.get(name, ""))
        for key_row in keys:
            key = key_row["name"]
            free = min(limit - busy[key], p.limit)
            if free > 0:
                args = {**base, "queue": name, "key": key, "limit": free}
                candidates += all_(conn, "due_in_partition", args)
    return candidates


def claim(conn: sqlite3.Connection, p: ClaimParams, cursors: ClaimCursors) -> list[Claimed]:
    now = now_us()
    candidates = _candidates(conn, p, now, cursors)
    candidates.sort(key=lambda r: (-r["priority"], r["available_at"], r["id"]))
    chosen = candidates[: p.limit]
    if not chosen:
        return []
    attempts = rows.json_text({c["id"]: new_ulid() for c in chosen})
    started = {r["id"]: r for r in all_(conn, "start_runs", {"attempts": attempts, "now": now})}
    args = {"attempts": attempts, "worker_id": p.worker_id, "lease_expires_at": now + int(p.lease_s * 1e6), "now": now}
    leased = {a["run_id"]: a for a in all_(conn, "insert_attempts", args)}
    return [
        Claimed(run=rows.run_from_row(started[c["id"]]), attempt=rows.attempt_from_row(leased[c["id"]]))
        for c in chosen
        if c["id"] in started
    ]
