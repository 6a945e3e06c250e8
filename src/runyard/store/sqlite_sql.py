"""The SQLite store's named queries and the three ways it runs them (one row, all rows, a change count)."""

from __future__ import annotations

import sqlite3
from typing import Any

from runyard.store.sqlfile import load_queries

Q = load_queries("sqlite")


def one(conn: sqlite3.Connection, name: str, params: dict[str, Any] | None = None) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(Q[name], params or {}).fetchone()
    return row


def all_(conn: sqlite3.Connection, name: str, params: dict[str, Any] | None = None) -> list[sqlite3.Row]:
    return conn.execute(Q[name], params or {}).fetchall()


def exec_(conn: sqlite3.Connection, name: str, params: dict[str, Any]) -> int:
    return conn.execute(Q[name], params).rowcount
