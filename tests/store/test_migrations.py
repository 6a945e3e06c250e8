"""Migrating an empty database gives exactly the schema in sql/sqlite/schema.sql (the reviewed snapshot)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runyard.store.sqlfile import migrations, parse_queries, sql_dir
from runyard.store.sqlite import SqliteStore, migrate


def schema_of(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
        "AND name != 'schema_migrations' AND sql IS NOT NULL ORDER BY type, name"
    ).fetchall()
    return [(t, n, " ".join(s.split())) for t, n, s in rows]


def test_migrating_from_empty_equals_the_schema_snapshot(tmp_path: Path) -> None:
    migrated = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    assert migrate(migrated) == len(migrations("sqlite"))
    snapshot = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    snapshot.executescript((sql_dir("sqlite") / "schema.sql").read_text())
    assert schema_of(migrated) == schema_of(snapshot)


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    first = migrate(conn)
    before = schema_of(conn)
    assert migrate(conn) == first
    assert schema_of(conn) == before


async def test_store_reports_the_schema_version(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "x.db")
    await store.open()
    assert await store.schema_version() == len(migrations("sqlite"))
    await store.close()


def test_every_named_query_prepares_against_the_schema(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    migrate(conn)
    text = "\n".join(p.read_text() for p in sorted(sql_dir("sqlite").glob("*.sql")) if p.name != "schema.sql")
    queries = parse_queries(text)
    assert "insert_eval_result" in queries  # the topic files beside queries.sql
    assert len(queries) > 30
    for name, sql in queries.items():
        if "{{" + name + "}}" in text:
            continue  # a fragment, prepared inside the queries that include it
        try:
            args = [None] * sql.count("?") if "?" in sql else {p: None for p in _params(sql)}  # rows, or names
            conn.execute("EXPLAIN " + sql, args)
        except sqlite3.Error as exc:  # pragma: no cover - the failure message names the query
            raise AssertionError(f"query {name}: {exc}") from exc


def _params(sql: str) -> set[str]:
    import re

    return set(re.findall(r":([a-z_]+)", sql))


def test_fragments_are_included_by_name() -> None:
    text = "-- name: cond\na = :a\n\n-- name: q\nSELECT 1 WHERE {{cond}};\n"
    assert parse_queries(text)["q"] == "SELECT 1 WHERE a = :a;"
    try:
        parse_queries("-- name: q\nSELECT {{nope}};\n")
    except ValueError as exc:
        assert "nope" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("an unknown fragment must be an error")


async def test_batches_written_before_engine_words_are_read_after_migrating(tmp_path: Path) -> None:
    from runyard.records import BatchItemError, BatchStatus
    from runyard.store.sqlite import _statements

    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)")
    for number, name, sql in migrations("sqlite"):
        if name.endswith("_batch_engine_words.sql"):
            break
        for statement in _statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (number,))
    conn.execute(
        "INSERT INTO batches (id, run_count, status, errors, sealed, created_at, updated_at) VALUES "
        '(\'B\', 2, \'PARTIAL_FAILED\', \'[{"index":1,"taskIdentifier":"t","error":"no"}]\', 1, 1, 1), '
        "('C', 1, 'PENDING', '[]', 0, 1, 1)"
    )
    conn.close()
    store = SqliteStore(tmp_path / "old.db")
    await store.open()
    try:
        old = await store.get_batch("B")
        assert old is not None and old.status is BatchStatus.PARTIAL_FAILED
        assert old.errors == [BatchItemError(index=1, task="t", error="no")]
        pending = await store.get_batch("C")
        assert pending is not None and pending.status is BatchStatus.PENDING and pending.errors == []
    finally:
        await store.close()
