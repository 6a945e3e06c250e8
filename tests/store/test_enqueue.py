from __future__ import annotations

import pytest

from runyard.ids import now_us
from runyard.models import RunStatus
from runyard.store.base import ClaimParams, FailParams, Store
from tests.store.conftest import params


async def test_enqueue_commits_a_queued_run_readable_at_once(store: Store) -> None:
    result = await store.enqueue(params(payload=b'{"a":1}', tags=["x", "y"], metadata={"m": 1}))
    assert not result.cached
    run = await store.get_run(result.run.id)
    assert run is not None
    assert run.status is RunStatus.QUEUED
    assert run.payload == b'{"a":1}'
    assert run.tags == ["x", "y"]
    assert run.metadata == {"m": 1}
    assert run.attempt_count == 0


async def test_delay_makes_a_delayed_run_with_its_due_time(store: Store) -> None:
    due = now_us() + 60_000_000
    run = (await store.enqueue(params(delay_until=due))).run
    assert run.status is RunStatus.DELAYED
    assert run.delayed_until == due
    assert await store.next_due_at() == due


async def test_ttl_counts_from_when_the_run_becomes_due(store: Store) -> None:
    due = now_us() + 10_000_000
    run = (await store.enqueue(params(delay_until=due, ttl_s=5))).run
    assert run.expires_at == due + 5_000_000


async def test_same_idempotency_key_returns_the_same_run(store: Store) -> None:
    first = await store.enqueue(params(idempotency_key="k", idempotency_ttl_s=60))
    again = await store.enqueue(params(idempotency_key="k", idempotency_ttl_s=60))
    assert again.cached
    assert again.run.id == first.run.id
    other_task = await store.enqueue(params(task="other", idempotency_key="k", idempotency_ttl_s=60))
    assert not other_task.cached


async def test_idempotency_key_expires_with_its_ttl(store: Store) -> None:
    first = await store.enqueue(params(idempotency_key="k", idempotency_ttl_s=0))
    again = await store.enqueue(params(idempotency_key="k", idempotency_ttl_s=60))
    assert not again.cached
    assert again.run.id != first.run.id


@pytest.mark.parametrize("how", ["cancel", "fail", "expire"])
async def test_a_run_that_did_not_succeed_releases_its_key(store: Store, how: str) -> None:
    first = await store.enqueue(params(idempotency_key="k", idempotency_ttl_s=60, ttl_s=0.000001))
    if how == "cancel":
        await store.cancel(first.run.id)
    elif how == "fail":
        claimed = await store.claim_batch(ClaimParams(worker_id="w", limit=1, lease_s=30))
        if not claimed:  # expired already: ttl is tiny; use a run without ttl
            first = await store.enqueue(params(idempotency_key="k2", idempotency_ttl_s=60))
            claimed = await store.claim_batch(ClaimParams(worker_id="w", limit=1, lease_s=30))
        await store.fail_attempt(FailParams(attempt_id=claimed[0].attempt.id, error={"message": "boom"}))
    else:
        await store.maintain()
    key = first.run.idempotency_key
    assert key is not None
    ended = await store.get_run(first.run.id)
    assert ended is not None and ended.status.releases_idempotency_key
    again = await store.enqueue(params(idempotency_key=key, idempotency_ttl_s=60))
    assert not again.cached


async def test_a_completed_run_keeps_its_key(store: Store) -> None:
    from runyard.store.base import CompleteParams

    first = await store.enqueue(params(idempotency_key="k", idempotency_ttl_s=60))
    claimed = await store.claim_batch(ClaimParams(worker_id="w", limit=1, lease_s=30))
    assert await store.complete_attempt(CompleteParams(attempt_id=claimed[0].attempt.id))
    again = await store.enqueue(params(idempotency_key="k", idempotency_ttl_s=60))
    assert again.cached and again.run.id == first.run.id


async def test_request_key_dedupes_a_retried_request(store: Store) -> None:
    first = await store.enqueue(params(request_key="req-1"))
    again = await store.enqueue(params(request_key="req-1", payload=b"2"))
    assert again.cached and again.run.id == first.run.id


async def test_enqueue_many_is_all_or_nothing(store: Store) -> None:
    good = params()
    dup = params()
    dup.id = good.id  # a primary key clash in the middle of the batch
    with pytest.raises(Exception):  # noqa: B017 - the backend's integrity error
        await store.enqueue_many([params(), good, dup])
    page = await store.list_runs(__import__("runyard.store.base", fromlist=["ListRunsParams"]).ListRunsParams())
    assert page.runs == []
    results = await store.enqueue_many([params(), params(), params()])
    assert len({r.run.id for r in results}) == 3


async def test_batch_items_dedupe_by_index(store: Store) -> None:
    first = await store.enqueue_many([params(batch_id="b1", batch_index=i) for i in range(3)])
    again = await store.enqueue_many([params(batch_id="b1", batch_index=i) for i in range(2, 4)])
    assert again[0].cached and again[0].run.id == first[2].run.id
    assert not again[1].cached


async def test_queue_limit_sent_with_a_trigger_is_stored(store: Store) -> None:
    await store.enqueue(params(queue="shared", queue_limit=3, set_queue_limit=True))
    queue = await store.get_queue("shared")
    assert queue is not None and queue.concurrency_limit == 3
    await store.enqueue(params(queue="shared"))  # name alone keeps the stored limit
    queue = await store.get_queue("shared")
    assert queue is not None and queue.concurrency_limit == 3
