from __future__ import annotations

import asyncio

from runyard.ids import now_us
from runyard.models import RunStatus
from runyard.store.base import ClaimParams, CompleteParams, Store
from tests.store.conftest import params


def claim(limit: int = 10, worker: str = "w", tasks: list[str] | None = None) -> ClaimParams:
    return ClaimParams(worker_id=worker, limit=limit, lease_s=30, tasks=tasks)


async def test_claim_order_is_priority_then_due_time_then_id(store: Store) -> None:
    low = (await store.enqueue(params())).run
    high = (await store.enqueue(params(priority=10))).run
    low2 = (await store.enqueue(params())).run
    got = await store.claim_batch(claim())
    assert [c.run.id for c in got] == [high.id, low.id, low2.id]
    assert all(c.run.status is RunStatus.EXECUTING for c in got)
    assert [c.attempt.number for c in got] == [1, 1, 1]


async def test_claim_respects_the_requested_limit(store: Store) -> None:
    for _ in range(5):
        await store.enqueue(params())
    assert len(await store.claim_batch(claim(limit=2))) == 2
    assert len(await store.claim_batch(claim(limit=10))) == 3
    assert await store.claim_batch(claim(limit=10)) == []


async def test_queue_limit_caps_executing_runs(store: Store) -> None:
    await store.upsert_queue("q", 2)
    for _ in range(5):
        await store.enqueue(params(queue="q"))
    first = await store.claim_batch(claim())
    assert len(first) == 2
    assert await store.claim_batch(claim()) == []
    await store.complete_attempt(CompleteParams(attempt_id=first[0].attempt.id))
    assert len(await store.claim_batch(claim())) == 1


async def test_limit_zero_holds_runs_queued(store: Store) -> None:
    await store.upsert_queue("paused", 0)
    run = (await store.enqueue(params(queue="paused"))).run
    assert await store.claim_batch(claim()) == []
    await store.upsert_queue("paused", 1)
    got = await store.claim_batch(claim())
    assert [c.run.id for c in got] == [run.id]


async def test_each_concurrency_key_gets_the_queue_limit(store: Store) -> None:
    await store.upsert_queue("q", 1)
    for key in ["a", "a", "a", "b", "b", "c"]:
        await store.enqueue(params(queue="q", concurrency_key=key))
    got = await store.claim_batch(claim())
    assert sorted(c.run.concurrency_key for c in got) == ["a", "b", "c"]
    assert await store.claim_batch(claim()) == []


async def test_a_busy_key_does_not_starve_another(store: Store) -> None:
    await store.upsert_queue("q", 1)
    for _ in range(50):
        await store.enqueue(params(queue="q", concurrency_key="hot"))
    cold = (await store.enqueue(params(queue="q", concurrency_key="cold"))).run
    got = await store.claim_batch(claim(limit=1))
    got += await store.claim_batch(claim(limit=1))
    assert cold.id in {c.run.id for c in got}


async def test_delayed_runs_wait_until_due(store: Store) -> None:
    await store.enqueue(params(delay_until=now_us() + 3_600_000_000))
    assert await store.claim_batch(claim()) == []
    soon = (await store.enqueue(params(delay_until=now_us() + 1))).run
    await asyncio.sleep(0.01)
    got = await store.claim_batch(claim())
    assert [c.run.id for c in got] == [soon.id]


async def test_a_run_past_its_ttl_is_never_claimed_and_expires(store: Store) -> None:
    run = (await store.enqueue(params(ttl_s=0.000001))).run
    await asyncio.sleep(0.01)
    assert await store.claim_batch(claim()) == []
    result = await store.maintain()
    assert result.expired == [run.id]
    expired = await store.get_run(run.id)
    assert expired is not None and expired.status is RunStatus.EXPIRED


async def test_claim_filters_by_task(store: Store) -> None:
    await store.enqueue(params(task="a"))
    b = (await store.enqueue(params(task="b"))).run
    got = await store.claim_batch(claim(tasks=["b"]))
    assert [c.run.id for c in got] == [b.id]


async def test_concurrent_claims_never_share_a_run_nor_break_limits(store: Store) -> None:
    await store.upsert_queue("q", 3)
    for i in range(60):
        await store.enqueue(params(queue="q", concurrency_key=str(i % 4)))
    for _ in range(40):
        await store.enqueue(params())
    results = await asyncio.gather(*(store.claim_batch(claim(limit=7, worker=f"w{i}")) for i in range(12)))
    ids = [c.run.id for batch in results for c in batch]
    assert len(ids) == len(set(ids))
    per_key: dict[str, int] = {}
    for batch in results:
        for c in batch:
            if c.run.queue == "q":
                per_key[c.run.concurrency_key] = per_key.get(c.run.concurrency_key, 0) + 1
    assert per_key == {"0": 3, "1": 3, "2": 3, "3": 3}
    assert len(ids) == 12 + 40
