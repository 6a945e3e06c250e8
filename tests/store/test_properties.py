"""Property test: any sequence of triggers, claims, completions, failures and cancels keeps the queue rules.

After every step: no (queue, concurrency key) holds more executing runs than its queue's limit; no run has
two live attempts; each idempotency key is held by at most one run; and a trigger with a held key returns the
holding run, never a second one.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runyard.models import RunStatus, can_transition
from runyard.store.base import ClaimParams, CompleteParams, FailParams, ListRunsParams
from runyard.store.sqlite import SqliteStore
from tests.store.conftest import params

LIMITS = {"q0": 0, "q1": 1, "q2": 2, "free": None}

trigger = st.tuples(
    st.just("trigger"),
    st.sampled_from(["q1", "q1", "q2", "free", "q0"]),
    st.sampled_from(["", "a"]),  # concurrency key
    st.sampled_from([None, "k1", "k2"]),  # idempotency key
    st.integers(min_value=0, max_value=2),  # priority
)
claim = st.tuples(st.just("claim"), st.integers(min_value=1, max_value=4), st.sampled_from(["w1", "w2"]))
finish = st.tuples(st.sampled_from(["complete", "fail", "retry", "cancel"]), st.integers(min_value=0, max_value=50))
operations = st.lists(st.one_of(trigger, trigger, claim, finish), min_size=4, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_queue_rules_hold_for_any_sequence(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_check(Path(tmp) / "p.db", ops))


async def _check(path: Path, ops: list[tuple[object, ...]]) -> None:
    store = SqliteStore(path)
    await store.open()
    try:
        for name, limit in LIMITS.items():
            await store.upsert_queue(name, limit)
        live: list[tuple[str, str]] = []  # (run id, attempt id) claimed and not finished by us
        seen: dict[str, RunStatus] = {}
        for op in ops:
            kind = op[0]
            if kind == "trigger":
                _, queue, ckey, idem, prio = op
                before = await _holders(store)
                result = await store.enqueue(
                    params(queue=str(queue), concurrency_key=str(ckey), idempotency_key=idem,  # type: ignore[arg-type]
                           idempotency_ttl_s=3600, priority=int(prio), max_attempts=2)  # type: ignore[call-overload]
                )  # fmt: skip
                if idem is not None and idem in before:
                    assert result.cached and result.run.id == before[idem]
                else:
                    assert not result.cached
            elif kind == "claim":
                got = await store.claim_batch(ClaimParams(worker_id=str(op[2]), limit=int(op[1]), lease_s=60))  # type: ignore[call-overload]
                live.extend((c.run.id, c.attempt.id) for c in got)
            elif live:
                run_id, attempt_id = live.pop(int(op[1]) % len(live))  # type: ignore[call-overload]
                if kind == "complete":
                    await store.complete_attempt(CompleteParams(attempt_id=attempt_id))
                elif kind == "fail":
                    await store.fail_attempt(FailParams(attempt_id=attempt_id, error={"message": "x"}))
                elif kind == "retry":
                    await store.fail_attempt(FailParams(attempt_id=attempt_id, error={"message": "x"}, retry_at=0))
                else:
                    await store.cancel(run_id)
            await _invariants(store)
            for run in (await store.list_runs(ListRunsParams(limit=1000))).runs:
                before = seen.get(run.id)
                assert before is None or before is run.status or can_transition(before, run.status), (
                    f"{before} -> {run.status} is not in the state machine"
                )
                seen[run.id] = run.status
    finally:
        await store.close()


async def _all_runs(store: SqliteStore) -> list[object]:
    return list((await store.list_runs(ListRunsParams(limit=1000))).runs)


async def _holders(store: SqliteStore) -> dict[str, str]:
    held: dict[str, str] = {}
    for run in (await store.list_runs(ListRunsParams(limit=1000))).runs:
        if run.idempotency_key and not run.status.releases_idempotency_key:
            assert run.idempotency_key not in held, "two runs hold one idempotency key"
            held[run.idempotency_key] = run.id
    return held


async def _invariants(store: SqliteStore) -> None:
    runs = (await store.list_runs(ListRunsParams(limit=1000))).runs
    executing = Counter((r.queue, r.concurrency_key) for r in runs if r.status is RunStatus.EXECUTING)
    for (queue, _key), count in executing.items():
        limit = LIMITS[queue]
        assert limit is None or count <= limit, f"{queue} runs {count} at once, limit {limit}"
    for run in runs:
        live = [a for a in await store.list_attempts(run.id) if a.status.value == "running"]
        assert len(live) <= 1
        assert (len(live) == 1) == (run.status is RunStatus.EXECUTING)
    await _holders(store)
