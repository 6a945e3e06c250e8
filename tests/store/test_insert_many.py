"""`insert_many`: a named INSERT for many rows in as few multi-row statements as the variable limit allows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runyard.store.sqlite import migrate
from runyard.store.sqlite_conn import connect
from runyard.store.sqlite_enqueue import INSERT_RUN_COLUMNS
from runyard.store.sqlite_sql import insert_many, value_names
from tests.store.conftest import run_row


@pytest.mark.parametrize("variables", [32766, 65, 30])  # 500 rows a statement, 2 a statement, 1 a statement
def test_every_row_is_inserted_with_its_values(tmp_path: Path, variables: int) -> None:
    conn = connect(tmp_path / "r.db")
    migrate(conn)
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variables)
    rows = [run_row(i) for i in range(7)]
    conn.execute("BEGIN IMMEDIATE")
    assert insert_many(conn, "insert_run", rows) == 7
    conn.execute("COMMIT")
    stored = conn.execute("SELECT id, payload, priority, available_at, ttl_s, batch_index FROM runs ORDER BY id")
    assert [tuple(r) for r in stored] == [
        (f"R{i:04d}", f'{{"n":{i}}}'.encode(), i % 3, 1000 + i, 1.5, i) for i in range(7)
    ]
    assert insert_many(conn, "insert_run", []) == 0


def test_only_a_plain_insert_values_can_be_repeated() -> None:
    with pytest.raises(ValueError, match="not a plain INSERT"):
        insert_many(sqlite3.connect(":memory:"), "insert_retry_run", [{"x": 1}])


def test_a_run_row_is_in_the_order_of_the_insert() -> None:
    """`new_run` builds its row as a tuple: its order must be the VALUES list's."""
    assert value_names("insert_run") == INSERT_RUN_COLUMNS


def test_tuple_rows_are_inserted_as_their_dicts_would_be(tmp_path: Path) -> None:
    conn = connect(tmp_path / "r.db")
    migrate(conn)
    rows = [run_row(i) for i in range(5)]
    conn.execute("BEGIN IMMEDIATE")
    assert insert_many(conn, "insert_run", [tuple(r[n] for n in INSERT_RUN_COLUMNS) for r in rows[:3]]) == 3
    assert insert_many(conn, "insert_run", rows[3:]) == 2
    conn.execute("COMMIT")
    stored = conn.execute("SELECT id, payload, priority, available_at, ttl_s, batch_index FROM runs ORDER BY id")
    assert [tuple(r) for r in stored] == [
        (f"R{i:04d}", f'{{"n":{i}}}'.encode(), i % 3, 1000 + i, 1.5, i) for i in range(5)
    ]
