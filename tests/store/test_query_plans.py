"""The plans of the hot queries: no scan of runs or attempts, no temporary sort, whatever the statistics say.

A claim, a trigger, a heartbeat, a completion and a maintenance pass must cost the same with a thousand or a
million runs waiting. Each hot query is checked with SQLite's EXPLAIN QUERY PLAN on a fresh database (no
statistics) and after ANALYZE over a skewed table (statistics that once led SQLite to sort every queued run).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from runyard.ids import now_us
from runyard.store.sqlfile import sql_dir
from runyard.store.sqlite import migrate
from runyard.store.sqlite_sql import Q, _values_list

HOT = [
    # claim
    "pending_queues", "pending_keys", "due_in_queue", "due_in_partition", "busy_keys", "start_runs", "insert_attempts",
    # trigger
    "insert_run", "run_by_id", "run_by_request_key", "run_holding_idempotency_key", "run_by_batch_item",
    "batch_has_runs", "batch_run_ids_text",
    "queue_by_name", "insert_queue_if_missing",
    # execution
    "owned_attempts", "extend_leases", "end_attempt", "complete_attempts", "complete_runs", "end_run", "requeue_run",
    "cancel_run", "cancel_attempts", "release_attempt", "insert_log", "log_size", "set_log_size", "api_key_by_hash",
    # maintenance
    "promote_delayed", "expire_runs", "lost_leases", "next_due_at", "due_schedules", "release_stale_attempts",
]  # fmt: skip

# A scan of runs, attempts or logs (under any alias) reads every row; a partial index of attempts whose code is
# still stopping is bounded by the worker slots, so scanning it is allowed.
FULL_SCAN = re.compile(r"^SCAN (runs|r|attempts|a|logs)\b(?!.*INDEX attempts_stopping)")


def plan(conn: sqlite3.Connection, name: str) -> list[str]:
    params: dict[str, None] | list[None] = {p: None for p in re.findall(r":([a-z_]+)", Q[name])}
    if "?" in Q[name]:  # a statement over a list of rows (sqlite_sql.all_for_rows), here with three
        sql = _values_list(name, 3)
        params = [None] * sql.count("?")
    else:
        sql = Q[name]
    return [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def skewed(conn: sqlite3.Connection) -> None:
    """Thousands of queued runs in one queue, a few in others, then ANALYZE."""
    now = now_us()
    conn.execute(
        """WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 4999)
        INSERT INTO runs (id, task, status, queue, concurrency_key, payload, payload_type, available_at,
                          triggered_by, created_at, updated_at)
        SELECT printf('%026d', i), 'noop', CASE WHEN i % 50 = 0 THEN 'completed' ELSE 'queued' END,
               CASE WHEN i % 97 = 0 THEN 'other' ELSE 'task/noop' END, 'k' || (i % 7), 'null', 'application/json',
               :now + i, 'api', :now, :now
        FROM n""",
        {"now": now},
    )
    conn.execute("ANALYZE")


@pytest.mark.parametrize("statistics", ["none", "skewed"])
def test_hot_queries_use_indexes_and_never_sort(tmp_path: Path, statistics: str) -> None:
    conn = sqlite3.connect(tmp_path / "plans.db", isolation_level=None)
    migrate(conn)
    if statistics == "skewed":
        skewed(conn)
    problems = {}
    for name in HOT:
        lines = plan(conn, name)
        bad = [ln for ln in lines if FULL_SCAN.match(ln) or "TEMP B-TREE" in ln]
        if bad:
            problems[name] = bad
    assert problems == {}


def test_the_check_catches_a_scan(tmp_path: Path) -> None:
    """The pattern above recognises what it must forbid (a query without a usable index)."""
    conn = sqlite3.connect(tmp_path / "plans.db", isolation_level=None)
    migrate(conn)
    lines = [
        str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM runs r WHERE payload = 'x' ORDER BY ttl_s")
    ]
    assert any(FULL_SCAN.match(ln) for ln in lines)
    assert any("TEMP B-TREE" in ln for ln in lines)


def test_every_index_is_read_by_some_query(tmp_path: Path) -> None:
    """An index no query reads still costs every insert and update of its table (one of runs once cost a trigger
    about 8 µs): each one the schema declares must appear in the plan of at least one named query, unless it is
    UNIQUE, where the constraint is its purpose."""
    conn = sqlite3.connect(tmp_path / "plans.db", isolation_level=None)
    migrate(conn)
    declared = {
        name
        for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        if "UNIQUE" not in sql.upper()
    }
    text = "\n".join(p.read_text() for p in sql_dir("sqlite").glob("*.sql"))
    fragments = {name for name in Q if "{{" + name + "}}" in text}  # conditions that other queries include
    read = {
        index
        for name in Q.keys() - fragments
        for line in plan(conn, name)
        for index in declared
        if re.search(rf"\bINDEX {index}\b", line)
    }
    assert declared - read == set()
    assert {"runs_pending_by_queue", "runs_status", "attempts_running"} <= read  # the check sees what it must
