"""Named SQL: `queries.sql` files whose blocks start with `-- name: <name>`, and numbered migrations."""

from __future__ import annotations

import re
from pathlib import Path

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_INCLUDE = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")


def parse_queries(text: str) -> dict[str, str]:
    """Split a queries file into {name: sql}. Comment lines before a name belong to no query; `{{other}}`
    inside a query is replaced by the text of the query named `other`."""
    queries: dict[str, str] = {}
    matches = list(_NAME.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[match.end() : end]
        lines = [ln for ln in body.strip().splitlines()]
        while lines and lines[-1].lstrip().startswith("--"):
            lines.pop()  # comments that introduce the next query
        sql = "\n".join(lines).strip()
        if match.group(1) in queries:
            raise ValueError(f"query {match.group(1)!r} is defined twice")
        queries[match.group(1)] = sql
    return {name: _INCLUDE.sub(lambda m: _fragment(queries, m.group(1)), sql) for name, sql in queries.items()}


def _fragment(queries: dict[str, str], name: str) -> str:
    """`{{name}}` stands for the named query's text, so one condition block can serve several queries."""
    if name not in queries:
        raise ValueError(f"{{{{{name}}}}} names no query")
    return queries[name]


def sql_dir(backend: str) -> Path:
    return Path(__file__).resolve().parent / "sql" / backend  # the package is installed as files


def load_queries(backend: str) -> dict[str, str]:
    """Every named query of the backend: queries.sql, then the topic files beside it (evals.sql, ...)."""
    files = sorted(p for p in sql_dir(backend).glob("*.sql") if p.name not in ("queries.sql", "schema.sql"))
    return parse_queries("\n".join(p.read_text() for p in [sql_dir(backend) / "queries.sql", *files]))


def migrations(backend: str) -> list[tuple[int, str, str]]:
    """[(version, filename, sql)] in order; files are named NNNN_description.sql."""
    found = []
    for path in sorted((sql_dir(backend) / "migrations").glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.name, path.read_text()))
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{backend} migrations must be numbered 1..n without gaps, found {versions}")
    return found
