"""The SQLite store's evaluation operations (a part of SqliteStore): per-item results of evaluation runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from runyard.ids import now_us
from runyard.models import EvalItemStatus, EvalResult
from runyard.store.sqlite_sql import Q, all_


class SqliteEvals:
    """Mixed into SqliteStore, which provides `_write` and `_read`."""

    _write: Callable[[Callable[[sqlite3.Connection], Any]], Any]
    _read: Callable[[Callable[[sqlite3.Connection], Any]], Any]

    async def record_eval_results(self, run_id: str, results: list[EvalResult]) -> None:
        now = now_us()
        args = [
            {"run_id": run_id, "idx": r.index, "item_id": r.item_id, "status": r.status.value, "score": r.score,
             "label": r.label, "explanation": r.explanation, "error": r.error, "now": now}
            for r in results
        ]  # fmt: skip
        if args:
            await self._write(lambda c: c.executemany(Q["upsert_eval_result"], args))

    async def eval_results(self, run_id: str, after: int = -1, limit: int = 1000) -> list[EvalResult]:
        def fn(conn: sqlite3.Connection) -> list[EvalResult]:
            found = all_(conn, "eval_results_of_run", {"run_id": run_id, "after": after, "limit": limit})
            return [
                EvalResult(index=r["idx"], status=EvalItemStatus(r["status"]), item_id=r["item_id"], score=r["score"],
                           label=r["label"], explanation=r["explanation"], error=r["error"])
                for r in found
            ]  # fmt: skip

        results: list[EvalResult] = await self._read(fn)
        return results
