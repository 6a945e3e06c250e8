"""Completions, many at once: the attempts that ended in success during one turn of the event loop end with one
UPDATE of their attempts and one of their runs (a list of rows each), where one statement each cost the writer
about twice the SQLite time and a Python round trip per run."""

from __future__ import annotations

import sqlite3
from typing import Any

from runyard.ids import now_us
from runyard.models import Run
from runyard.store import rows
from runyard.store.base import CompleteParams
from runyard.store.sqlite_conn import Grouped
from runyard.store.sqlite_sql import all_for_rows


class CompleteAttempt(Grouped):
    """One attempt's success. Its result is the run as it ended, or None if the attempt was no longer running
    (cancelled, lost, ended before) or its run no longer executing it."""

    __slots__ = ("params",)

    def __init__(self, params: CompleteParams) -> None:
        super().__init__("complete_attempt")
        self.params = params

    @classmethod
    def run_group(cls, conn: sqlite3.Connection, ops: list[Any]) -> list[tuple[bool, Any]]:
        now = now_us()
        done: list[CompleteParams] = [op.params for op in ops]
        first: dict[str, int] = {}  # an attempt named twice ends once: by its first completion, which gets the run
        for i, p in enumerate(done):
            first.setdefault(p.attempt_id, i)
        mine = [done[i] for i in first.values()]
        ended = all_for_rows(conn, "complete_attempts", [(p.attempt_id, p.exit_code, now) for p in mine])
        run_of = {row["id"]: row["run_id"] for row in ended}
        args = [
            (run_of[p.attempt_id], p.attempt_id, p.output, p.output_type, p.exit_code, now)
            for p in mine
            if p.attempt_id in run_of
        ]
        completed: dict[str, Run] = {}
        if args:
            for row in all_for_rows(conn, "complete_runs", args):
                run = rows.run_from_row(row)
                completed[str(run.current_attempt_id)] = run
        return [(True, completed.get(p.attempt_id) if first[p.attempt_id] == i else None) for i, p in enumerate(done)]
