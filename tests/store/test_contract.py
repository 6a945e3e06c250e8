"""The store contract: every store backend must pass this whole suite (the `store` fixture is parametrized).

Topics: enqueue (idempotency, request keys, batches, delays, ttl), claim (order, queue and concurrency-key
limits, concurrent claimers), lifecycle (complete, fail, retry, cancel, leases, reschedule, logs), reads
(pagination, filters, batches, API keys, queues).
"""

from __future__ import annotations

import asyncio

import pytest

from runyard.ids import now_us
from runyard.models import ApiKey, AttemptStatus, EndReason, RunStatus, TriggeredBy
from runyard.records import BatchItemError, BatchStatus
from runyard.store.base import (
    BatchRecord,
    ClaimParams,
    CompleteParams,
    Conflict,
    FailParams,
    ListRunsParams,
    NotFound,
    Store,
)
from tests.store.conftest import params


# ---- enqueue ----
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


@pytest.mark.parametrize("how", ["one", "many"])
async def test_the_run_an_enqueue_returns_is_the_run_stored(store: Store, how: str) -> None:
    """Every field set, each to a value no other field has: what the trigger answers is what was stored."""
    p = params(
        "shape", payload=b'{"p":1}', payload_type="application/super+json", context=b'{"c":2}', tags=["t1", "t2"],
        metadata={"k": "v"}, concurrency_key="ck", request_key="rk-1", priority=7, delay_until=now_us() + 60_000_000,
        ttl_s=90.5, max_attempts=4, max_duration_s=33.25, triggered_by=TriggeredBy.REPLAY, replay_of="R" * 26,
        retry_as_new_run=True,
    )  # fmt: skip
    if how == "one":
        made = (await store.enqueue(p)).run
    else:
        (result,) = await store.enqueue_many([p])
        made = result.run
    assert await store.get_run(made.id) == made
    assert made.status is RunStatus.DELAYED and made.expires_at == made.available_at + 90_500_000


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

    first = await store.enqueue(params(idempotency_key="k", idempotency_ttl_s=60))
    claimed = await store.claim_batch(ClaimParams(worker_id="w", limit=1, lease_s=30))
    assert await store.complete_attempt(CompleteParams(attempt_id=claimed[0].attempt.id))
    again = await store.enqueue(params(idempotency_key="k", idempotency_ttl_s=60))
    assert again.cached and again.run.id == first.run.id


async def test_request_key_dedupes_a_retried_request(store: Store) -> None:
    first = await store.enqueue(params(request_key="req-1"))
    again = await store.enqueue(params(request_key="req-1", payload=b"2"))
    assert again.cached and again.run.id == first.run.id


async def test_concurrent_repeats_of_a_request_key_make_one_run(store: Store) -> None:
    """Triggers sent at once (one commit for all), some repeating a request key: one run per key, the repeats
    answered with it, and the other triggers unaffected."""
    keys = ["a", "b", "a", None, "b", "a", None]
    results = await asyncio.gather(*[store.enqueue(params(request_key=k)) for k in keys])
    by_key = {k: [r for r, key in zip(results, keys, strict=True) if key == k] for k in ("a", "b")}
    for found in by_key.values():
        assert len({r.run.id for r in found}) == 1
        assert [r.cached for r in found] == [False] + [True] * (len(found) - 1)
    unkeyed = [r for r, key in zip(results, keys, strict=True) if key is None]
    assert not any(r.cached for r in unkeyed) and len({r.run.id for r in unkeyed}) == 2
    assert await store.count_runs(ListRunsParams()) == 4


async def test_enqueue_many_is_all_or_nothing(store: Store) -> None:
    good = params()
    dup = params()
    dup.id = good.id  # a primary key clash in the middle of the batch
    with pytest.raises(Exception):  # noqa: B017 - the backend's integrity error
        await store.enqueue_many([params(), good, dup])
    page = await store.list_runs(ListRunsParams())
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


# ---- claim ----
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


# ---- lifecycle ----
async def claim_one(store: Store, lease_s: float = 30, worker: str = "w") -> tuple[str, str]:
    got = await store.claim_batch(ClaimParams(worker_id=worker, limit=1, lease_s=lease_s))
    assert len(got) == 1
    return got[0].run.id, got[0].attempt.id


async def test_complete_stores_output_and_ends_the_run(store: Store) -> None:
    await store.enqueue(params())
    run_id, attempt_id = await claim_one(store)
    assert await store.complete_attempt(CompleteParams(attempt_id=attempt_id, output=b'{"ok":true}'))
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.COMPLETED and run.end_reason is EndReason.SUCCESS
    assert run.output == b'{"ok":true}'
    assert run.started_at is not None and run.ended_at is not None
    [attempt] = await store.list_attempts(run_id)
    assert attempt.status is AttemptStatus.COMPLETED


async def test_failure_with_retry_requeues_then_a_new_attempt_runs(store: Store) -> None:
    await store.enqueue(params(max_attempts=2))
    run_id, attempt_id = await claim_one(store)
    retry_at = now_us() + 50_000
    assert await store.fail_attempt(FailParams(attempt_id=attempt_id, error={"message": "x"}, retry_at=retry_at))
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.QUEUED and run.available_at == retry_at
    assert await store.claim_batch(ClaimParams(worker_id="w", limit=1, lease_s=30)) == []
    await asyncio.sleep(0.06)
    _, second = await claim_one(store)
    assert await store.fail_attempt(FailParams(attempt_id=second, error={"message": "y"}, exit_code=3))
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.FAILED and run.exit_code == 3
    assert run.attempt_count == 2 and run.error == {"message": "y"}
    assert [a.number for a in await store.list_attempts(run_id)] == [1, 2]


async def test_a_run_that_retries_as_a_new_run_ends_and_a_copy_counts_on(store: Store) -> None:
    first = (await store.enqueue(params(max_attempts=3, retry_as_new_run=True, tags=["t"], concurrency_key="k"))).run
    run_id, attempt_id = await claim_one(store)
    assert run_id == first.id
    retry_at = now_us() + 50_000
    failed = FailParams(attempt_id=attempt_id, error={"message": "x"}, exit_code=2, retry_at=retry_at)
    failed.retry_run_id = "R1"
    ended = await store.fail_attempt(failed)
    assert ended is not None and ended.id == first.id and ended.status is RunStatus.FAILED and ended.exit_code == 2
    retry = await store.get_run("R1")
    assert retry is not None and retry.retry_of == first.id and retry.retry_as_new_run
    assert retry.status is RunStatus.QUEUED and retry.available_at == retry_at
    assert (retry.task, retry.payload, retry.tags, retry.concurrency_key) == (first.task, first.payload, ["t"], "k")
    assert retry.attempt_count == 1 and retry.idempotency_key is None
    assert await store.claim_batch(ClaimParams(worker_id="w", limit=1, lease_s=30)) == []
    await asyncio.sleep(0.06)
    [claimed] = await store.claim_batch(ClaimParams(worker_id="w", limit=1, lease_s=30))
    assert claimed.run.id == "R1" and claimed.attempt.number == 2  # the chain's attempt limit holds
    # A lost lease ends this run as crashed, and the next retry names it
    requeued, crashed = await store.rescue_lost_leases(now_us() + 60_000_000)
    assert crashed == ["R1"] and len(requeued) == 1
    third = await store.get_run(requeued[0])
    assert third is not None and third.retry_of == "R1" and third.status is RunStatus.QUEUED
    crashed_run = await store.get_run("R1")
    assert crashed_run is not None and crashed_run.status is RunStatus.CRASHED
    page = await store.list_runs(ListRunsParams(retries_only=True))
    assert {r.id for r in page.runs} == {"R1", third.id}


async def test_cancel_of_an_executing_run_revokes_its_lease(store: Store) -> None:
    await store.enqueue(params())
    run_id, attempt_id = await claim_one(store)
    canceled = await store.cancel(run_id)
    assert canceled.status is RunStatus.CANCELED and canceled.end_reason is EndReason.STOPPED
    assert await store.heartbeat("w", [attempt_id], 30) == [attempt_id]
    assert not await store.complete_attempt(CompleteParams(attempt_id=attempt_id))
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELED


async def test_a_canceled_run_keeps_its_queue_slot_until_its_code_has_stopped(store: Store) -> None:
    await store.upsert_queue("one", 1)
    await store.enqueue(params(queue="one"))
    second = (await store.enqueue(params(queue="one"))).run
    run_id, attempt_id = await claim_one(store)
    await store.cancel(run_id)
    assert await store.claim_batch(ClaimParams(worker_id="w", limit=5, lease_s=30)) == []
    assert await store.heartbeat("w", [attempt_id], 30) == [attempt_id]  # no longer owned: the worker stops it
    assert await store.release_attempt(attempt_id)
    assert not await store.release_attempt(attempt_id)
    claimed = await store.claim_batch(ClaimParams(worker_id="w", limit=5, lease_s=30))
    assert [c.run.id for c in claimed] == [second.id]


async def test_the_slot_of_a_canceled_run_whose_worker_is_gone_is_freed_with_its_lease(store: Store) -> None:
    await store.upsert_queue("one", 1)
    await store.enqueue(params(queue="one"))
    second = (await store.enqueue(params(queue="one"))).run
    run_id, _ = await claim_one(store, lease_s=0.05)
    await store.cancel(run_id)
    assert await store.claim_batch(ClaimParams(worker_id="w", limit=5, lease_s=30)) == []
    await asyncio.sleep(0.1)
    assert await store.next_due_at() is not None
    await store.maintain()
    claimed = await store.claim_batch(ClaimParams(worker_id="w", limit=5, lease_s=30))
    assert [c.run.id for c in claimed] == [second.id]


async def test_cancel_of_an_ended_run_changes_nothing(store: Store) -> None:
    await store.enqueue(params())
    run_id, attempt_id = await claim_one(store)
    await store.complete_attempt(CompleteParams(attempt_id=attempt_id))
    assert (await store.cancel(run_id)).status is RunStatus.COMPLETED
    with pytest.raises(NotFound):
        await store.cancel("01ARZ3NDEKTSV4RRFFQ69G5FAV")


async def test_heartbeat_extends_only_this_workers_leases(store: Store) -> None:
    await store.enqueue(params())
    _, attempt_id = await claim_one(store, lease_s=0.05)
    assert await store.heartbeat("other", [attempt_id], 30) == [attempt_id]
    assert await store.heartbeat("w", [attempt_id], 30) == []
    await asyncio.sleep(0.1)
    result = await store.maintain()
    assert result.crashed == [] and result.requeued == []


async def test_a_lost_lease_is_retried_when_attempts_remain(store: Store) -> None:
    await store.enqueue(params(max_attempts=2))
    run_id, attempt_id = await claim_one(store, lease_s=0.01)
    await asyncio.sleep(0.03)
    assert (await store.maintain()).requeued == [run_id]
    [attempt] = await store.list_attempts(run_id)
    assert attempt.status is AttemptStatus.CRASHED
    # The old worker comes back: its late completion must not overwrite the retried run.
    assert not await store.complete_attempt(CompleteParams(attempt_id=attempt_id))
    run_id2, _ = await claim_one(store)
    assert run_id2 == run_id


async def test_a_lost_lease_without_attempts_left_crashes_the_run(store: Store) -> None:
    await store.enqueue(params(max_attempts=1))
    run_id, _ = await claim_one(store, lease_s=0.01)
    await asyncio.sleep(0.03)
    assert (await store.maintain()).crashed == [run_id]
    assert (await store.maintain()).crashed == []  # idempotent
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CRASHED and run.end_reason is EndReason.CRASHED


async def test_maintain_promotes_due_delayed_runs(store: Store) -> None:
    run = (await store.enqueue(params(delay_until=now_us() + 10_000))).run
    await asyncio.sleep(0.02)
    assert (await store.maintain()).promoted == 1
    got = await store.get_run(run.id)
    assert got is not None and got.status is RunStatus.QUEUED


async def test_reschedule_moves_a_delayed_run_only(store: Store) -> None:
    run = (await store.enqueue(params(delay_until=now_us() + 60_000_000))).run
    later = now_us() + 120_000_000
    moved = await store.reschedule(run.id, later)
    assert moved.delayed_until == later and moved.status is RunStatus.DELAYED
    queued = (await store.enqueue(params())).run
    with pytest.raises(Conflict):
        await store.reschedule(queued.id, later)


async def test_tags_and_metadata_updates(store: Store) -> None:
    run = (await store.enqueue(params(tags=["a"]))).run
    updated = await store.update_run_info(run.id, tags=["a", "b"], metadata={"k": [1]})
    assert updated.tags == ["a", "b"] and updated.metadata == {"k": [1]}
    with pytest.raises(NotFound):
        await store.update_run_info("01ARZ3NDEKTSV4RRFFQ69G5FAV", tags=[])


async def test_logs_keep_their_order_across_appends(store: Store) -> None:
    run = (await store.enqueue(params())).run
    await store.append_logs(run.id, 1, [("stdout", "one"), ("stderr", "two")])
    await store.append_logs(run.id, 1, [("stdout", "three")])
    lines = await store.read_logs(run.id)
    assert [(ln.seq, ln.stream, ln.text) for ln in lines] == [
        (1, "stdout", "one"), (2, "stderr", "two"), (3, "stdout", "three"),
    ]  # fmt: skip
    assert [ln.text for ln in await store.read_logs(run.id, after_seq=2)] == ["three"]


# ---- reads ----
async def test_list_runs_pages_newest_first_in_both_directions(store: Store) -> None:
    ids = [(await store.enqueue(params())).run.id for _ in range(7)]
    newest_first = list(reversed(ids))
    page1 = await store.list_runs(ListRunsParams(limit=3))
    assert [r.id for r in page1.runs] == newest_first[:3]
    assert page1.prev_cursor is None and page1.next_cursor == newest_first[2]
    page2 = await store.list_runs(ListRunsParams(limit=3, after=page1.next_cursor))
    assert [r.id for r in page2.runs] == newest_first[3:6]
    page3 = await store.list_runs(ListRunsParams(limit=3, after=page2.next_cursor))
    assert [r.id for r in page3.runs] == newest_first[6:]
    assert page3.next_cursor is None
    back = await store.list_runs(ListRunsParams(limit=3, before=page2.runs[0].id))
    assert [r.id for r in back.runs] == newest_first[:3]


async def test_list_runs_filters(store: Store) -> None:
    a = (await store.enqueue(params(task="a", tags=["red", "x"]))).run
    b = (await store.enqueue(params(task="b", tags=["blue"], delay_until=now_us() + 60_000_000))).run
    c = (await store.enqueue(params(task="a", queue="special"))).run

    async def ids(**kw: object) -> set[str]:
        return {r.id for r in (await store.list_runs(ListRunsParams(**kw))).runs}  # type: ignore[arg-type]

    assert await ids(tasks=["a"]) == {a.id, c.id}
    assert await ids(tags=["blue", "red"]) == {a.id, b.id}
    assert await ids(statuses=[RunStatus.DELAYED]) == {b.id}
    assert await ids(queues=["special"]) == {c.id}
    assert await ids(created_from=b.created_at) == {b.id, c.id}
    assert await ids(created_to=a.created_at) == {a.id}
    assert await store.count_by_status() == {RunStatus.QUEUED: 2, RunStatus.DELAYED: 1}


async def test_batches_round_trip_and_dedupe_by_key(store: Store) -> None:
    now = now_us()
    batch = BatchRecord(id="B1", run_count=2, status=BatchStatus.PENDING, created_at=now, updated_at=now,
                        idempotency_key="bk", task_identifiers=["t"])  # fmt: skip
    created, cached = await store.create_batch(batch)
    assert not cached and created.id == "B1"
    again, cached = await store.create_batch(
        BatchRecord(id="B2", run_count=2, status=BatchStatus.PENDING, created_at=now, updated_at=now,
                    idempotency_key="bk")
    )  # fmt: skip
    assert cached and again.id == "B1"
    runs = await store.enqueue_many([params(batch_id="B1", batch_index=i) for i in range(2)])
    sealed = await store.record_batch_items("B1", [], seal=True)
    got = await store.get_batch("B1")
    assert got is not None and got.sealed and got.status is BatchStatus.COMPLETED and sealed == got
    assert got.run_ids == [r.run.id for r in runs]
    assert await store.get_batch("nope") is None
    with pytest.raises(Conflict):
        await store.record_batch_items("B1", [], seal=True)
    with pytest.raises(NotFound):
        await store.record_batch_items("nope", [])


async def test_batch_items_seal_the_batch_once_every_item_is_a_run_or_an_error(store: Store) -> None:
    now = now_us()
    await store.create_batch(BatchRecord(id="B3", run_count=3, status=BatchStatus.PENDING, created_at=now,
                                         updated_at=now))  # fmt: skip
    await store.enqueue_many([params(batch_id="B3", batch_index=0)])
    fail = BatchItemError(index=1, task="t", error="bad")
    open_batch = await store.record_batch_items("B3", [fail])
    assert not open_batch.sealed and open_batch.status is BatchStatus.PROCESSING
    again = await store.record_batch_items("B3", [BatchItemError(index=1, task="t", error="other")])
    assert again.errors == [fail]  # an index is recorded once
    await store.enqueue_many([params(batch_id="B3", batch_index=2)])
    done = await store.record_batch_items("B3", [])
    assert done.sealed and done.status is BatchStatus.PARTIAL_FAILED
    assert await store.get_batch("B3") == done


async def test_run_tags_are_added_in_one_step_up_to_a_limit(store: Store) -> None:
    [created] = await store.enqueue_many([params(tags=["a"])])
    run, added = await store.add_run_tags(created.run.id, ["b", "a", "b", "c"], max_tags=3)
    assert run.tags == ["a", "b", "c"] and added == 2
    with pytest.raises(Conflict):
        await store.add_run_tags(created.run.id, ["d"], max_tags=3)
    again = await store.get_run(created.run.id)
    assert again is not None and again.tags == ["a", "b", "c"]
    assert (await store.add_run_tags(created.run.id, ["c"], max_tags=3))[1] == 0
    with pytest.raises(NotFound):
        await store.add_run_tags("missing", ["x"], max_tags=3)


async def test_concurrent_tag_additions_are_all_kept(store: Store) -> None:
    [created] = await store.enqueue_many([params()])
    await asyncio.gather(*(store.add_run_tags(created.run.id, [f"t{i}"], max_tags=10) for i in range(6)))
    run = await store.get_run(created.run.id)
    assert run is not None and sorted(run.tags) == [f"t{i}" for i in range(6)]


async def test_api_keys_are_found_by_hash_until_revoked(store: Store) -> None:
    key = ApiKey(id="K1", name="ci", prefix="ry_abcd", created_at=now_us())
    assert await store.create_api_key(key, "h1")
    found = await store.find_api_key("h1")
    assert found is not None and found.name == "ci"
    assert await store.find_api_key("h2") is None
    assert await store.revoke_api_key("K1")
    assert not await store.revoke_api_key("K1")
    assert await store.find_api_key("h1") is None
    [listed] = await store.list_api_keys()
    assert listed.revoked_at is not None


async def test_a_key_hash_is_stored_once(store: Store) -> None:
    first = ApiKey(id="K1", name="seed", prefix="ry_abcd", created_at=now_us())
    again = ApiKey(id="K2", name="seed", prefix="ry_abcd", created_at=now_us())
    results = await asyncio.gather(store.create_api_key(first, "h1"), store.create_api_key(again, "h1"))
    assert sorted(results) == [False, True]
    assert [k.name for k in await store.list_api_keys()] == ["seed"]
    [kept] = await store.list_api_keys()
    assert await store.revoke_api_key(kept.id)
    assert not await store.create_api_key(ApiKey(id="K3", name="seed", prefix="ry_abcd", created_at=now_us()), "h1")
    assert await store.find_api_key("h1") is None, "a revoked key stays revoked"


async def test_queues_are_listed(store: Store) -> None:
    await store.upsert_queue("b", 2)
    await store.upsert_queue("a", None)
    assert [(q.name, q.concurrency_limit) for q in await store.list_queues()] == [("a", None), ("b", 2)]


async def test_count_runs_uses_the_same_filters(store: Store) -> None:
    for task in ["a", "a", "b"]:
        await store.enqueue(params(task=task))
    assert await store.count_runs(ListRunsParams()) == 3
    assert await store.count_runs(ListRunsParams(tasks=["a"])) == 2
    assert await store.count_runs(ListRunsParams(statuses=[RunStatus.FAILED])) == 0


async def test_last_log_seq(store: Store) -> None:
    run = (await store.enqueue(params())).run
    assert await store.last_log_seq(run.id) == 0
    await store.append_logs(run.id, 1, [("stdout", "a"), ("stdout", "b")])
    assert await store.last_log_seq(run.id) == 2


async def test_one_failing_write_does_not_undo_the_others_committed_with_it(store: Store) -> None:
    taken = params()
    await store.enqueue(taken)
    clash = params()
    clash.id = taken.id
    batch = [params(), params(), clash, params()]
    results = await asyncio.gather(*(store.enqueue(p) for p in batch), return_exceptions=True)
    assert isinstance(results[2], Exception)
    for p, result in zip(batch, results, strict=True):
        if p is not clash:
            assert not isinstance(result, BaseException)
            assert await store.get_run(p.id) is not None
    assert await store.count_runs(ListRunsParams()) == 4


async def test_packets_take_one_upload_before_their_expiry(store: Store) -> None:
    await store.create_packet("payloads/a.json", "tok-1", now_us() + 60_000_000)
    assert await store.get_packet("payloads/a.json") is None  # reserved, not uploaded
    assert await store.fill_packet("tok-1", b'{"json":1}', "application/super+json")
    assert not await store.fill_packet("tok-1", b"again", "text/plain")  # single use
    assert await store.get_packet("payloads/a.json") == (b'{"json":1}', "application/super+json")
    await store.create_packet("payloads/old.json", "tok-2", now_us() - 1)
    assert not await store.fill_packet("tok-2", b"late", "application/json")
    assert not await store.fill_packet("nope", b"x", "application/json")
