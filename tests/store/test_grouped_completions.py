"""Completions submitted in one turn of the event loop end with one UPDATE of attempts and one of runs
(`sqlite_complete.CompleteAttempt`), and each caller gets what a completion of its own would have given it:
its run as completed, or None for an attempt that no longer runs (ended before, cancelled, unknown) or that is
named twice in the turn (the first one ends it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from runyard.models import Run, RunStatus
from runyard.store.base import ClaimParams, CompleteParams
from runyard.store.sqlite import SqliteStore
from tests.store.conftest import params


async def _scenario(store: SqliteStore, together: bool) -> tuple[list[Any], list[tuple[Any, ...]]]:
    for _ in range(6):
        await store.enqueue(params("t"))
    claimed = await store.claim_batch(ClaimParams(worker_id="w", limit=6, lease_s=60))
    attempt = [c.attempt.id for c in claimed]
    assert len(attempt) == 6
    await store.complete_attempt(CompleteParams(attempt_id=attempt[0], output=b'"early"'))  # ended before
    await store.cancel(claimed[3].run.id)
    calls = [
        CompleteParams(attempt_id=attempt[0], output=b"0"),
        CompleteParams(attempt_id=attempt[1], output=b'{"n": 1}'),
        CompleteParams(attempt_id=attempt[1], output=b"2", exit_code=2),  # the same attempt again
        CompleteParams(attempt_id=attempt[2], output=None, exit_code=None),
        CompleteParams(attempt_id=attempt[3], output=b"3"),  # its run was cancelled
        CompleteParams(attempt_id="01ZZZZZZZZZZZZZZZZZZZZZZZZ", output=b"x"),  # no such attempt
        CompleteParams(attempt_id=attempt[4], output=b"4", output_type="text/plain", exit_code=7),
    ]
    writes = store.writes
    if together:
        results = list(await asyncio.gather(*(store.complete_attempt(c) for c in calls)))
        assert store.writes - writes == 1  # one transaction
    else:
        results = [await store.complete_attempt(c) for c in calls]
    state = []
    for c in claimed:
        run = await store.get_run(c.run.id)
        assert run is not None
        (attempt_row,) = await store.list_attempts(c.run.id)
        state.append((run.status.value, (run.output or b"").decode(), run.exit_code))
        state.append((attempt_row.status.value, attempt_row.exit_code))
    return results, state


def _summary(results: list[Any]) -> list[tuple[str, bytes | None, str, int | None] | None]:
    out = []
    for r in results:
        assert r is None or isinstance(r, Run)
        out.append(None if r is None else (r.status.value, r.output, r.output_type, r.exit_code))
    return out


async def test_completions_of_one_turn_answer_as_one_by_one(tmp_path: Path) -> None:
    answers = {}
    for together in (True, False):
        store = SqliteStore(tmp_path / f"{together}.db")
        await store.open()
        try:
            results, state = await _scenario(store, together)
        finally:
            await store.close()
        answers[together] = (_summary(results), state)
        assert all(r is None or (r.status is RunStatus.COMPLETED and r.ended_at) for r in results)
    assert answers[True] == answers[False]
    summary, state = answers[True]
    assert summary == [
        None,
        ("completed", b'{"n": 1}', "application/json", 0),
        None,
        ("completed", None, "application/json", None),
        None,
        None,
        ("completed", b"4", "text/plain", 7),
    ]
    assert state == [
        ("completed", '"early"', 0), ("completed", 0),
        ("completed", '{"n": 1}', 0), ("completed", 0),  # the first of its two completions, in the run and attempt
        ("completed", "", None), ("completed", None),
        ("canceled", "", -1), ("canceled", None),
        ("completed", "4", 7), ("completed", 7),
        ("executing", "", None), ("running", None),
    ]  # fmt: skip


async def test_a_turn_of_completions_is_two_statements(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.open()
    try:
        for _ in range(40):
            await store.enqueue(params("t"))
        claimed = await store.claim_batch(ClaimParams(worker_id="w", limit=40, lease_s=60))
        assert store._writer is not None and store._writer._conn is not None
        statements: list[str] = []
        store._writer._conn.set_trace_callback(statements.append)
        done = await asyncio.gather(
            *(store.complete_attempt(CompleteParams(attempt_id=c.attempt.id, output=b"1")) for c in claimed)
        )
        store._writer._conn.set_trace_callback(None)
        assert [r is not None and r.id == c.run.id for r, c in zip(done, claimed, strict=True)] == [True] * 40
        updates = [s for s in statements if "UPDATE" in s]
        assert len(updates) == 2 and all(s.lstrip().startswith("WITH done") for s in updates)
    finally:
        await store.close()
