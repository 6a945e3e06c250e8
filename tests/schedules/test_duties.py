"""The maintenance duties one at a time, each against a real store, and the loop that runs them all."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runyard.events import EventBus
from runyard.ids import now_us
from runyard.models import RetryPolicy, Run, RunStatus, TaskDef, TriggeredBy
from runyard.scheduler import Maintainer
from runyard.schedules import ScheduleInput
from runyard.service import Service, TriggerRequest
from runyard.settings import Settings
from runyard.store.base import ClaimParams
from runyard.store.sqlite import SqliteStore
from runyard.tasks import TaskRegistry

SECOND = 1_000_000


async def setup(tmp_path: Path) -> tuple[Maintainer, Service, list[tuple[str, Run]]]:
    store = SqliteStore(tmp_path / "d.db")
    await store.open()
    tasks = TaskRegistry(
        {
            "once": TaskDef(name="once", kind="noop"),
            "twice": TaskDef(name="twice", kind="noop", retry=RetryPolicy(max_attempts=2)),
        }
    )
    service = Service(store, tasks, EventBus())
    seen: list[tuple[str, Run]] = []
    service.events.subscribe(lambda kind, run: seen.append((kind, run)))
    return Maintainer(store, service.events, Settings(lease_s=1.0), service), service, seen


async def test_each_duty_alone(tmp_path: Path) -> None:
    m, service, seen = await setup(tmp_path)
    now = now_us()
    delayed = (await service.trigger(TriggerRequest(task="once", delay_until=now + SECOND))).run
    assert await m.promote_delayed(now) == 0
    assert await m.promote_delayed(now + 2 * SECOND) == 1
    assert (await service.get_run(delayed.id)).status is RunStatus.QUEUED

    short = (await service.trigger(TriggerRequest(task="once", ttl_s=1))).run
    assert await m.expire(now) == []
    assert await m.expire(now + 3 * SECOND) == [short.id]  # the delayed run has no ttl
    assert {k for k, r in seen if r.id == short.id} >= {"created", "expired"}
    await service.store.close()


async def test_rescue_lost_leases_retries_or_crashes(tmp_path: Path) -> None:
    m, service, seen = await setup(tmp_path)
    a = (await service.trigger(TriggerRequest(task="once"))).run
    b = (await service.trigger(TriggerRequest(task="twice"))).run
    await service.store.claim_batch(ClaimParams(worker_id="gone", limit=2, lease_s=1))
    assert await m.rescue_lost_leases(now_us()) == ([], [])  # leases still live
    requeued, crashed = await m.rescue_lost_leases(now_us() + 2 * SECOND)
    assert (requeued, crashed) == ([b.id], [a.id])
    assert ("crashed", a.id) in [(k, r.id) for k, r in seen] and ("requeued", b.id) in [(k, r.id) for k, r in seen]
    assert await m.rescue_lost_leases(now_us() + 3 * SECOND) == ([], [])  # idempotent
    await service.store.close()


async def test_fire_schedules_duty_and_the_loop(tmp_path: Path) -> None:
    m, service, seen = await setup(tmp_path)
    schedule, _ = await service.schedules.create(ScheduleInput(task="once", cron="@every 1s"))
    assert await m.fire_schedules(now_us()) == []
    assert schedule.next_run_at is not None
    made = await m.fire_schedules(schedule.next_run_at)
    assert [r.run.triggered_by for r in made] == [TriggeredBy.CRON]
    await m.start()  # the loop wakes for each tick by itself
    try:
        for _ in range(100):
            if sum(1 for k, r in seen if k == "created" and r.schedule_id == schedule.id) >= 3:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the loop did not fire the schedule's next ticks")
    finally:
        await m.stop()
        await service.store.close()
