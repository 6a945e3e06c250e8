"""The SQLite store's named queries and the ways it runs them (one row, all rows, a change count, one INSERT of
many rows, and one statement over a list of rows)."""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from runyard.store.sqlfile import load_queries

Q = load_queries("sqlite")
R = TypeVar("R")


def one(conn: sqlite3.Connection, name: str, params: dict[str, Any] | None = None) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(Q[name], params or {}).fetchone()
    return row


def all_(conn: sqlite3.Connection, name: str, params: dict[str, Any] | None = None) -> list[sqlite3.Row]:
    return conn.execute(Q[name], params or {}).fetchall()


def exec_(conn: sqlite3.Connection, name: str, params: dict[str, Any]) -> int:
    return conn.execute(Q[name], params).rowcount


def insert_many(conn: sqlite3.Connection, name: str, rows: Sequence[dict[str, Any] | tuple[Any, ...]]) -> int:
    """Run the named `INSERT ... VALUES (:a, :b, ...)` for every row with as few statements as the connection's
    variable limit allows (one multi-row VALUES each). Fewer statements than `executemany`'s one a row: each
    statement gives up Python's interpreter lock once for all its rows, where executemany gives it up (and must
    win it back from a busy event loop) once a row; alone it is also about twice as fast. A row is a dict by
    parameter name, or a tuple of the values in the order of the VALUES list (`value_names`)."""
    if not rows:
        return 0
    names = value_names(name)
    inserted = 0
    for part in _parts(conn, rows, len(names)):
        sql = _multi_row(name, len(part))
        values = [v for row in part for v in (row if isinstance(row, tuple) else [row[n] for n in names])]
        inserted += conn.execute(sql, values).rowcount
    return inserted


def _parts(conn: sqlite3.Connection, rows: Sequence[R], width: int) -> Iterator[Sequence[R]]:
    """`rows` in slices of at most 500 whose `width` parameters each fit the connection's variable limit."""
    per = max(1, min(500, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    for start in range(0, len(rows), per):
        yield rows[start : start + per]


@functools.cache
def value_names(name: str) -> tuple[str, ...]:
    """The parameter names of the named INSERT's VALUES list, in order."""
    head, sep, values = Q[name].rpartition("VALUES")
    if not sep or "SELECT" in head.upper() or "RETURNING" in values.upper():
        raise ValueError(f"{name} is not a plain INSERT ... VALUES (...)")
    return tuple(re.findall(r":([a-z_][a-z0-9_]*)", values))


@functools.lru_cache(maxsize=32)
def _multi_row(name: str, count: int) -> str:
    head, _, _ = Q[name].rpartition("VALUES")
    one = "(" + ", ".join("?" * len(value_names(name))) + ")"
    return f"{head}VALUES {', '.join([one] * count)}"


def all_for_rows(conn: sqlite3.Connection, name: str, rows: list[tuple[Any, ...]]) -> list[sqlite3.Row]:
    """Run the named statement whose one `VALUES (?, ...)` stands for a list of rows, for all `rows` (as few
    statements as the variable limit allows), and return the rows all of them return."""
    found: list[sqlite3.Row] = []
    for part in _parts(conn, rows, _row_width(name)):
        found += conn.execute(_values_list(name, len(part)), [v for row in part for v in row]).fetchall()
    return found


_ROW = re.compile(r"VALUES\s*(\(\?(?:\s*,\s*\?)*\))")


@functools.cache
def _row_width(name: str) -> int:
    match = _ROW.search(Q[name])
    if match is None or Q[name].count("?") != match.group(1).count("?"):
        raise ValueError(f"{name} has no VALUES (?, ...) list, or other parameters")
    return match.group(1).count("?")


@functools.lru_cache(maxsize=32)
def _values_list(name: str, count: int) -> str:
    match = _ROW.search(Q[name])
    assert match is not None
    head, row, tail = Q[name][: match.start(1)], match.group(1), Q[name][match.end(1) :]
    return head + ", ".join([row] * count) + tail
