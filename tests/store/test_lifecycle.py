from __future__ import annotations

import asyncio

import pytest

from runyard.ids import now_us
from runyard.models import AttemptStatus, EndReason, RunStatus
from runyard.store.base import ClaimParams, CompleteParams, Conflict, FailParams, NotFound, Store
from tests.store.conftest import params


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


async def test_cancel_of_an_executing_run_revokes_its_lease(store: Store) -> None:
    await store.enqueue(params())
    run_id, attempt_id = await claim_one(store)
    canceled = await store.cancel(run_id)
    assert canceled.status is RunStatus.CANCELED and canceled.end_reason is EndReason.STOPPED
    assert await store.heartbeat("w", [attempt_id], 30) == [attempt_id]
    assert not await store.complete_attempt(CompleteParams(attempt_id=attempt_id))
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.CANCELED


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
