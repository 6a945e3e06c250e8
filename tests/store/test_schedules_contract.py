"""The store contract for schedules: upserts by deduplication key, the firing compare-and-set, one run per
tick, due lists, declarative sync, and overlap rules applied inside the enqueue transaction."""

from __future__ import annotations

from runyard.ids import new_ulid, now_us
from runyard.models import EndReason, OverlapPolicy, RunStatus
from runyard.store.base import ClaimParams, FireParams, ListSchedulesParams, Overlap, ScheduleParams, Store
from tests.store.conftest import params


def sched(**kw: object) -> ScheduleParams:
    base: dict[str, object] = {"id": new_ulid(), "task": "t", "cron": "@hourly", "next_key": 100, "next_run_at": 1000}
    return ScheduleParams(**{**base, **kw})  # type: ignore[arg-type]


async def test_upsert_by_deduplication_key_keeps_the_cursor_unless_the_timing_changes(store: Store) -> None:
    first, created = await store.upsert_schedule(sched(deduplication_key="d", external_id="u1"))
    same, again = await store.upsert_schedule(sched(deduplication_key="d", external_id="u2", next_key=200))
    assert created and not again and same.id == first.id
    assert same.external_id == "u2" and same.next_key == 100  # same cron and zone: the cursor stays
    moved, _ = await store.upsert_schedule(sched(deduplication_key="d", cron="@daily", next_key=300, next_run_at=9))
    assert moved.next_key == 300 and moved.next_run_at == 9 and moved.cron == "@daily"
    assert (await store.get_schedule_by_key("d")) == moved


async def test_fire_moves_the_cursor_once_and_one_tick_makes_one_run(store: Store) -> None:
    s, _ = await store.upsert_schedule(sched())
    run = params(schedule_id=s.id, schedule_key=100)
    fire = FireParams(schedule_id=s.id, expected_key=100, next_key=200, next_run_at=2000, last_run_at=1000, runs=[run])
    done = await store.fire_schedule(fire)
    assert done.fired and len(done.results) == 1
    assert not (await store.fire_schedule(fire)).fired  # the cursor moved: a second firer does nothing
    # Even with the cursor set back, the tick's run is the one already made.
    await store.update_schedule(s.id, sched(id=s.id, cron="@daily", next_key=100, next_run_at=1000))
    rerun = FireParams(schedule_id=s.id, expected_key=100, next_key=200, next_run_at=2000,
                       runs=[params(schedule_id=s.id, schedule_key=100)])  # fmt: skip
    again = await store.fire_schedule(rerun)
    assert again.fired and again.results[0].cached and again.results[0].run.id == done.results[0].run.id
    after = await store.get_schedule(s.id)
    assert after is not None and after.next_key == 200 and after.last_run_at == 1000


async def test_due_schedules_and_the_next_due_time(store: Store) -> None:
    now = now_us()
    late, _ = await store.upsert_schedule(sched(next_run_at=now - 5_000_000))
    later, _ = await store.upsert_schedule(sched(next_run_at=now - 1_000_000))
    await store.upsert_schedule(sched(next_run_at=now - 9_000_000, active=False))
    await store.upsert_schedule(sched(next_run_at=now + 60_000_000))
    assert [s.id for s in await store.due_schedules(now, 10)] == [late.id, later.id]
    assert await store.next_due_at() == now - 5_000_000


async def test_declarative_sync_makes_the_configured_set_exactly(store: Store) -> None:
    api, _ = await store.upsert_schedule(sched())
    await store.sync_declarative_schedules([sched(deduplication_key="cfg:a", declarative=True),
                                            sched(deduplication_key="cfg:b", declarative=True)])  # fmt: skip
    await store.sync_declarative_schedules([sched(deduplication_key="cfg:b", declarative=True)])
    found, total = await store.list_schedules(ListSchedulesParams())
    assert total == 2 and {s.deduplication_key for s in found} == {None, "cfg:b"}
    assert await store.delete_schedule(api.id) and not await store.delete_schedule(api.id)


async def test_overlap_rules_apply_in_the_enqueue_transaction(store: Store) -> None:
    await store.enqueue(params())
    running = (await store.claim_batch(ClaimParams(worker_id="w", limit=1, lease_s=30)))[0].run
    skip = await store.enqueue(params(overlap=Overlap(policy=OverlapPolicy.SKIP, limit=1)))
    assert (skip.run.status, skip.run.end_reason, skip.run.exit_code) == (RunStatus.CANCELED, EndReason.SKIPPED, -1)
    full = await store.enqueue(params(overlap=Overlap(limit=1, max_queued=0)))
    assert (full.run.status, full.run.end_reason) == (RunStatus.FAILED, EndReason.QUEUE_FULL)
    queued = await store.enqueue(params(overlap=Overlap(limit=2, max_queued=0)))  # not busy below the limit
    assert queued.run.status is RunStatus.QUEUED
    kill = await store.enqueue(params(overlap=Overlap(policy=OverlapPolicy.KILL, limit=1)))
    assert kill.run.status is RunStatus.QUEUED and kill.stopped == [running.id]
    stopped = await store.get_run(running.id)
    assert stopped is not None and stopped.end_reason is EndReason.STOPPED
    assert [a.status.value for a in await store.list_attempts(running.id)] == ["canceled"]
    missed = await store.enqueue(params(end_reason=EndReason.MISSED))
    assert (missed.run.status, missed.run.end_reason) == (RunStatus.EXPIRED, EndReason.MISSED)
