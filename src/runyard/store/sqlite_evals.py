"""The SQLite store's evaluation operations (a part of SqliteStore: datasets, item results, counts)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import msgspec

from runyard.evals.spec import (
    Counts,
    Dataset,
    Evaluator,
    EvaluatorVersion,
    Example,
    ItemResult,
    ItemStatus,
    NamedEvaluator,
    Span,
    SpanProject,
    Suite,
)
from runyard.ids import now_us
from runyard.store.base import Conflict, NotFound
from runyard.store.sqlite_sql import Q, all_, exec_, one

_enc = msgspec.json.Encoder()


def _dataset(conn: sqlite3.Connection, dataset_id: str) -> Dataset | None:
    row = one(conn, "dataset_by_id", {"id": dataset_id})
    return None if row is None else _dataset_row(row)


def _dataset_row(row: sqlite3.Row) -> Dataset:
    return Dataset(
        id=row["id"], name=row["name"], version=row["version"], example_count=row["example_count"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )  # fmt: skip


def _insert_examples(
    conn: sqlite3.Connection, dataset_id: str, version: int, start: int, examples: list[Example]
) -> None:
    rows = [
        {
            "dataset_id": dataset_id,
            "version": version,
            "position": start + i,
            "example_id": e.id,
            "data": _enc.encode(e),
        }
        for i, e in enumerate(examples)
    ]
    conn.executemany(Q["insert_dataset_example"], rows)


def _suite(row: sqlite3.Row) -> Suite:
    return Suite(
        id=row["id"], scope=row["scope"], name=row["name"], description=row["description"], kind=row["kind"],
        metadata=msgspec.json.decode(row["metadata"]), inputs=msgspec.json.decode(row["inputs"]),
        evaluators=msgspec.json.decode(row["evaluators"], type=list[Evaluator]),
        attributes=msgspec.json.decode(row["attributes"]), created_at=row["created_at"], updated_at=row["updated_at"],
    )  # fmt: skip


def _named(row: sqlite3.Row) -> NamedEvaluator:
    return NamedEvaluator(
        id=row["id"], name=row["name"], description=row["description"], kind=row["kind"], version=row["version"],
        versions=msgspec.json.decode(row["versions"], type=list[EvaluatorVersion]),
        created_at=row["created_at"], updated_at=row["updated_at"],
    )  # fmt: skip


class SqliteEvals:
    """Mixed into SqliteStore, which provides `_write` and `_read`."""

    _write: Callable[[Callable[[sqlite3.Connection], Any]], Any]
    _read: Callable[[Callable[[sqlite3.Connection], Any]], Any]

    async def create_dataset(self, dataset_id: str, name: str, examples: list[Example]) -> Dataset:
        def op(conn: sqlite3.Connection) -> Dataset:
            if one(conn, "dataset_by_name", {"name": name}) is not None:
                raise Conflict(f"a dataset named {name!r} exists")
            exec_(conn, "insert_dataset", {"id": dataset_id, "name": name, "now": now_us()})
            _insert_examples(conn, dataset_id, 1, 0, examples)
            dataset = _dataset(conn, dataset_id)
            assert dataset is not None
            return dataset

        result: Dataset = await self._write(op)
        return result

    async def append_examples(self, dataset_id: str, examples: list[Example]) -> Dataset:
        def op(conn: sqlite3.Connection) -> Dataset:
            before = _dataset(conn, dataset_id)
            if before is None:
                raise NotFound(f"dataset {dataset_id} not found")
            row = one(conn, "bump_dataset_version", {"id": dataset_id, "now": now_us()})
            assert row is not None
            exec_(conn, "copy_dataset_version", {"dataset_id": dataset_id, "version": row["version"]})
            _insert_examples(conn, dataset_id, row["version"], before.example_count, examples)
            dataset = _dataset(conn, dataset_id)
            assert dataset is not None
            return dataset

        result: Dataset = await self._write(op)
        return result

    async def replace_examples(self, dataset_id: str, examples: list[Example]) -> Dataset:
        def op(conn: sqlite3.Connection) -> Dataset:
            if _dataset(conn, dataset_id) is None:
                raise NotFound(f"dataset {dataset_id} not found")
            row = one(conn, "bump_dataset_version", {"id": dataset_id, "now": now_us()})
            assert row is not None
            version = row["version"]
            exec_(conn, "copy_dataset_version", {"dataset_id": dataset_id, "version": version})
            for e in examples:
                args = {"dataset_id": dataset_id, "version": version, "example_id": e.id, "data": _enc.encode(e)}
                if not exec_(conn, "replace_dataset_example", args):
                    raise Conflict(f"the dataset has no example {e.id!r}")  # the transaction rolls back
            dataset = _dataset(conn, dataset_id)
            assert dataset is not None
            return dataset

        result: Dataset = await self._write(op)
        return result

    async def delete_dataset(self, dataset_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            exec_(conn, "delete_dataset_examples", {"id": dataset_id})
            return bool(exec_(conn, "delete_dataset", {"id": dataset_id}))

        result: bool = await self._write(op)
        return result

    async def get_dataset(self, dataset_id: str) -> Dataset | None:
        result: Dataset | None = await self._read(lambda c: _dataset(c, dataset_id))
        return result

    async def list_datasets(self, *, name: str | None, skip: int, limit: int) -> tuple[list[Dataset], int]:
        def fn(conn: sqlite3.Connection) -> tuple[list[Dataset], int]:
            found = all_(conn, "datasets_page", {"name": name, "skip": skip, "limit": limit})
            total = one(conn, "datasets_count", {"name": name})
            return [_dataset_row(r) for r in found], int(total["n"]) if total else 0

        result: tuple[list[Dataset], int] = await self._read(fn)
        return result

    async def dataset_examples(
        self, dataset_id: str, version: int, *, after: int = -1, limit: int = 1000
    ) -> list[tuple[int, Example]]:
        args = {"dataset_id": dataset_id, "version": version, "after": after, "limit": limit}
        found = await self._read(lambda c: all_(c, "dataset_examples_page", args))
        return [(r["position"], msgspec.json.decode(r["data"], type=Example)) for r in found]

    async def record_eval_results(self, run_id: str, total: int, results: list[ItemResult]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            exec_(conn, "ensure_eval_counts", {"run_id": run_id, "total": total})
            added = {"success": 0, "error": 0, "skipped": 0, "passed": 0, "score_sum": 0.0, "scored": 0}
            for r in results:
                row = {"run_id": run_id, "item_index": r.index, "item_id": r.item_id, "status": r.status.value,
                       "passed": int(r.passed), "result": _enc.encode(r)}  # fmt: skip
                if not exec_(conn, "insert_eval_result", row):
                    continue  # recorded by an earlier attempt
                added[r.status.value] += 1
                if r.status is ItemStatus.SUCCESS:
                    added["passed"] += int(r.passed)
                    numeric = [s.score for s in r.scores if s.score is not None]
                    if numeric:
                        added["score_sum"] += sum(numeric) / len(numeric)
                        added["scored"] += 1
            if results:
                exec_(conn, "add_eval_counts", {"run_id": run_id, **added})

        await self._write(op)

    async def eval_counts(self, run_id: str) -> Counts | None:
        row = await self._read(lambda c: one(c, "eval_counts_by_run", {"run_id": run_id}))
        if row is None:
            return None
        return Counts(
            total=row["total"], success=row["success"], error=row["error"], skipped=row["skipped"],
            passed=row["passed"], score_sum=row["score_sum"], scored=row["scored"],
        )  # fmt: skip

    async def eval_results(self, run_id: str, *, after: int = -1, limit: int = 1000) -> list[ItemResult]:
        args = {"run_id": run_id, "after": after, "limit": limit}
        found = await self._read(lambda c: all_(c, "eval_results_page", args))
        return [msgspec.json.decode(r["result"], type=ItemResult) for r in found]

    async def save_suite(self, suite: Suite, *, create: bool) -> Suite:
        args = {
            "id": suite.id, "scope": suite.scope, "name": suite.name, "description": suite.description,
            "kind": suite.kind, "metadata": _enc.encode(suite.metadata), "inputs": _enc.encode(suite.inputs),
            "evaluators": _enc.encode(suite.evaluators), "attributes": _enc.encode(suite.attributes),
        }  # fmt: skip

        def op(conn: sqlite3.Connection) -> Suite:
            if create:
                exec_(conn, "insert_suite", {**args, "now": now_us()})
            elif not exec_(conn, "update_suite", {**args, "now": now_us()}):
                raise NotFound(f"suite {suite.id} not found")
            row = one(conn, "suite_by_id", {"id": suite.id})
            assert row is not None
            return _suite(row)

        result: Suite = await self._write(op)
        return result

    async def get_suite(self, suite_id: str) -> Suite | None:
        row = await self._read(lambda c: one(c, "suite_by_id", {"id": suite_id}))
        return None if row is None else _suite(row)

    async def list_suites(self, scope: str, *, skip: int, limit: int) -> tuple[list[Suite], int]:
        def fn(conn: sqlite3.Connection) -> tuple[list[Suite], int]:
            found = all_(conn, "suites_page", {"scope": scope, "skip": skip, "limit": limit})
            total = one(conn, "suites_count", {"scope": scope})
            return [_suite(r) for r in found], int(total["n"]) if total else 0

        result: tuple[list[Suite], int] = await self._read(fn)
        return result

    async def delete_suite(self, suite_id: str) -> bool:
        deleted: int = await self._write(lambda c: exec_(c, "delete_suite", {"id": suite_id}))
        return bool(deleted)

    async def save_named_evaluator(self, evaluator: NamedEvaluator, *, expected: int | None) -> NamedEvaluator:
        args = {
            "id": evaluator.id, "name": evaluator.name, "description": evaluator.description, "kind": evaluator.kind,
            "version": evaluator.version, "versions": _enc.encode(evaluator.versions), "expected": expected,
        }  # fmt: skip

        def op(conn: sqlite3.Connection) -> NamedEvaluator:
            holder = one(conn, "named_evaluator_by_name", {"name": evaluator.name})
            if holder is not None and holder["id"] != evaluator.id:
                raise Conflict(f"an evaluator named {evaluator.name!r} exists")
            if expected is None:
                exec_(conn, "insert_named_evaluator", {**args, "now": now_us()})
            elif not exec_(conn, "update_named_evaluator", {**args, "now": now_us()}):
                if one(conn, "named_evaluator_by_id", {"id": evaluator.id}) is None:
                    raise NotFound(f"evaluator {evaluator.id} not found")
                raise Conflict(f"evaluator {evaluator.id} changed meanwhile")
            row = one(conn, "named_evaluator_by_id", {"id": evaluator.id})
            assert row is not None
            return _named(row)

        result: NamedEvaluator = await self._write(op)
        return result

    async def get_named_evaluator(self, evaluator_id: str) -> NamedEvaluator | None:
        row = await self._read(lambda c: one(c, "named_evaluator_by_id", {"id": evaluator_id}))
        return None if row is None else _named(row)

    async def list_named_evaluators(self, *, skip: int, limit: int) -> tuple[list[NamedEvaluator], int]:
        def fn(conn: sqlite3.Connection) -> tuple[list[NamedEvaluator], int]:
            found = all_(conn, "named_evaluators_page", {"skip": skip, "limit": limit})
            total = one(conn, "named_evaluators_count", {})
            return [_named(r) for r in found], int(total["n"]) if total else 0

        result: tuple[list[NamedEvaluator], int] = await self._read(fn)
        return result

    async def delete_named_evaluator(self, evaluator_id: str) -> bool:
        deleted: int = await self._write(lambda c: exec_(c, "delete_named_evaluator", {"id": evaluator_id}))
        return bool(deleted)

    async def insert_spans(self, spans: list[Span]) -> int:
        def op(conn: sqlite3.Connection) -> int:
            now = now_us()
            added: dict[str, list[int]] = {}
            for s in spans:
                row = {"project": s.project, "span_id": s.span_id, "trace_id": s.trace_id, "start_us": s.start_us,
                       "data": _enc.encode(s), "now": now}  # fmt: skip
                if exec_(conn, "insert_span", row):
                    added.setdefault(s.project, []).append(s.start_us)
            for project, starts in added.items():
                exec_(conn, "add_span_project", {"project": project, "spans": len(starts), "first_us": min(starts),
                                                 "last_us": max(starts), "now": now})  # fmt: skip
            return sum(len(v) for v in added.values())

        result: int = await self._write(op)
        return result

    async def spans_in_window(self, project: str, start_us: int, end_us: int, limit: int) -> list[Span]:
        args = {"project": project, "start": start_us, "end": end_us, "limit": limit}
        found = await self._read(lambda c: all_(c, "spans_in_window", args))
        return [msgspec.json.decode(r["data"], type=Span) for r in found]

    async def span_projects(self) -> list[SpanProject]:
        found = await self._read(lambda c: all_(c, "span_projects"))
        return [
            SpanProject(name=r["project"], spans=r["spans"], first_us=r["first_us"], last_us=r["last_us"],
                        created_at=r["created_at"])
            for r in found
        ]  # fmt: skip
