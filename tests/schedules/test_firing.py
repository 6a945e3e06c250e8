"""Firing schedule ticks against a real SQLite store: catch-up, DST, overlap policies, exactly-once with two
stores (two writers, as two server processes have) on one database file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from runyard import cron
from runyard.errors import BadRequest
from runyard.events import EventBus
from runyard.ids import new_ulid
from runyard.models import CATCH_UP_ALL, EndReason, OverlapPolicy, Run, RunStatus, TaskDef, TriggeredBy
from runyard.schedules import ScheduleInput
from runyard.service import Service, TriggerRequest
from runyard.store.base import ClaimParams, ListRunsParams, ScheduleParams
from runyard.store.sqlite import SqliteStore
from runyard.tasks import TaskRegistry
from tests.schedules.test_cron import utc, wall

MIN = 60_000_000


def registry(**overrides: object) -> TaskRegistry:
    return TaskRegistry({"job": TaskDef(name="job", kind="noop", **overrides)})  # type: ignore[arg-type]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Path]:
    yield tmp_path / "s.db"


async def make(db: Path, tasks: TaskRegistry) -> Service:
    store = SqliteStore(db)
    await store.open()
    return Service(store, tasks, EventBus())


async def runs_of(service: Service) -> list[Run]:
    page = await service.store.list_runs(ListRunsParams(limit=1000))
    return sorted(page.runs, key=lambda r: r.created_at)


async def at(service: Service, expr: str, next_local: tuple[int, ...], tz: str = "UTC") -> str:
    """A schedule whose next tick is the local time `next_local` (so a test controls the clock)."""
    tick = next(cron.parse(expr).ticks_after(wall(*next_local) - 1, cron.zone(tz)))
    schedule, _ = await service.store.upsert_schedule(
        ScheduleParams(id=new_ulid(), task="job", cron=expr, timezone=tz, next_key=tick.key, next_run_at=tick.due)
    )
    return schedule.id


async def test_an_on_time_tick_makes_one_cron_run_with_the_scheduled_payload(db: Path) -> None:
    service = await make(db, registry())
    sid = await at(service, "*/5 * * * *", (2026, 1, 5, 10, 5))
    assert await service.schedules.fire_due(utc(2026, 1, 5, 10, 4)) == []  # not due yet
    made = await service.schedules.fire_due(utc(2026, 1, 5, 10, 5, 2))
    assert len(made) == 1
    run = made[0].run
    assert run.triggered_by is TriggeredBy.CRON and run.status is RunStatus.QUEUED and run.schedule_id == sid

    payload = msgspec.json.decode(run.payload)
    assert (
        payload["scheduleId"] == "sched_" + sid.lower()
        and payload["type"] == "IMPERATIVE"
        and payload["timezone"] == "UTC"
    )
    assert payload["timestamp"].startswith("2026-01-05T10:05:00") and "lastTimestamp" not in payload
    assert payload["upcoming"][0].startswith("2026-01-05T10:10:00") and len(payload["upcoming"]) == 5
    schedule = await service.schedules.get(sid)
    assert schedule.next_run_at == utc(2026, 1, 5, 10, 10) and schedule.last_run_at == utc(2026, 1, 5, 10, 5)
    again = await service.schedules.fire_due(utc(2026, 1, 5, 10, 10, 1))
    assert msgspec.json.decode(again[0].run.payload)["lastTimestamp"].startswith("2026-01-05T10:05:00")
    await service.store.close()


@pytest.mark.parametrize(
    ("catch_up", "late_s", "ran", "missed"),
    [
        (1, 0, 1, 10),  # latest: the newest overdue tick runs, the rest are missed
        (1, 300, 1, 10),
        (CATCH_UP_ALL, 300, 11, 0),  # all
        (0, 300, 0, 11),  # skip: nothing late runs
        (0, 0, 1, 10),  # ... but a tick that is on time always runs
        (3, 300, 3, 8),  # RunWisp's catch_up = N
    ],
)
async def test_catch_up_after_downtime(db: Path, catch_up: int, late_s: int, ran: int, missed: int) -> None:
    service = await make(db, registry(catch_up=catch_up))
    await at(service, "*/10 * * * *", (2026, 1, 5, 10, 0))
    # The server was down from 10:00 to 11:40 (+ late_s): eleven ticks are overdue.
    await service.schedules.fire_due(utc(2026, 1, 5, 11, 40) + late_s * 1_000_000)
    runs = await runs_of(service)
    assert len(runs) == ran + missed
    queued = [r for r in runs if r.status is RunStatus.QUEUED]
    lost = [r for r in runs if r.end_reason is EndReason.MISSED]
    assert len(queued) == ran and len(lost) == missed
    assert all(r.status is RunStatus.EXPIRED and r.exit_code == -1 for r in lost)
    by_tick = sorted(runs, key=lambda r: msgspec.json.decode(r.payload)["timestamp"])
    assert [r.status is RunStatus.QUEUED for r in by_tick] == [False] * missed + [True] * ran  # the newest run
    # Nothing is fired twice, and the cursor is past now.
    assert await service.schedules.fire_due(utc(2026, 1, 5, 11, 49)) == []
    await service.store.close()


async def test_a_skipped_local_time_is_recorded_as_dst_skipped(db: Path) -> None:
    service = await make(db, registry(catch_up=CATCH_UP_ALL))
    await at(service, "30 2 * * *", (2026, 3, 28, 2, 30), tz="Europe/Berlin")
    await service.schedules.fire_due(utc(2026, 3, 28, 1, 30, 1))
    await service.schedules.fire_due(utc(2026, 3, 29, 1, 0, 1))  # the clock jumped over 02:30 local
    runs = await runs_of(service)
    assert [(r.status, r.end_reason) for r in runs] == [
        (RunStatus.QUEUED, None),
        (RunStatus.EXPIRED, EndReason.DST_SKIPPED),
    ]
    await service.store.close()


async def test_a_repeated_local_time_fires_once(db: Path) -> None:
    service = await make(db, registry(catch_up=CATCH_UP_ALL))
    await at(service, "30 2 * * *", (2026, 10, 25, 2, 30), tz="Europe/Berlin")
    for minute in range(0, 180, 10):  # from 00:00 to 03:00 UTC: 02:30 local happens at 00:30 and 01:30 UTC
        await service.schedules.fire_due(utc(2026, 10, 25, 0, 0) + minute * MIN)
    runs = await runs_of(service)
    assert len(runs) == 1 and runs[0].status is RunStatus.QUEUED
    await service.store.close()


async def busy(service: Service) -> Run:
    """An executing run of the task."""
    await service.trigger(TriggerRequest(task="job"))
    claimed = await service.store.claim_batch(ClaimParams(worker_id="w", limit=1, lease_s=30))
    return claimed[0].run


async def test_on_overlap_skip_records_a_skipped_run(db: Path) -> None:
    service = await make(db, registry(on_overlap=OverlapPolicy.SKIP))
    await at(service, "* * * * *", (2026, 1, 5, 10, 0))
    running = await busy(service)
    made = await service.schedules.fire_due(utc(2026, 1, 5, 10, 0, 1))
    run = made[0].run
    assert (run.status, run.end_reason, run.exit_code) == (RunStatus.CANCELED, EndReason.SKIPPED, -1)
    assert (await service.get_run(running.id)).status is RunStatus.EXECUTING
    await service.store.close()


async def test_on_overlap_queue_is_bounded_by_max_queued(db: Path) -> None:
    service = await make(db, registry(concurrency_limit=1, max_queued=1))
    await at(service, "* * * * *", (2026, 1, 5, 10, 0))
    await busy(service)
    first = (await service.schedules.fire_due(utc(2026, 1, 5, 10, 0, 1)))[0].run
    second = (await service.schedules.fire_due(utc(2026, 1, 5, 10, 1, 1)))[0].run
    assert first.status is RunStatus.QUEUED and first.end_reason is None
    assert (second.status, second.end_reason, second.exit_code) == (RunStatus.FAILED, EndReason.QUEUE_FULL, -1)
    await service.store.close()


async def test_on_overlap_kill_stops_the_running_run_and_tells_its_worker(db: Path) -> None:
    service = await make(db, registry(on_overlap=OverlapPolicy.KILL))
    canceled: list[str] = []
    service.events.on_cancel(canceled.append)
    await at(service, "* * * * *", (2026, 1, 5, 10, 0))
    running = await busy(service)
    made = await service.schedules.fire_due(utc(2026, 1, 5, 10, 0, 1))
    assert made[0].run.status is RunStatus.QUEUED and made[0].stopped == [running.id]
    old = await service.get_run(running.id)
    assert (old.status, old.end_reason) == (RunStatus.CANCELED, EndReason.STOPPED)
    assert canceled == [running.id]
    await service.store.close()


async def test_two_stores_on_one_file_fire_each_tick_once(db: Path) -> None:
    tasks = registry(catch_up=CATCH_UP_ALL)
    one, two = await make(db, tasks), await make(db, tasks)
    for i in range(20):
        await at(one, "* * * * *", (2026, 1, 5, 10, i % 3))
    for minute in range(6):
        now = utc(2026, 1, 5, 10, minute, 1)
        await asyncio.gather(*[s.schedules.fire_due(now) for s in (one, two, one, two)])
    runs = await runs_of(one)
    ticks = {(r.schedule_id, r.payload) for r in runs}
    assert len(runs) == len(ticks)  # no tick has two runs
    assert len(runs) == 20 * 6 - sum(i % 3 for i in range(20))  # and none was left out
    await one.store.close()
    await two.store.close()


async def test_api_schedules_validate_and_keep_their_cursor_on_a_config_sync(db: Path) -> None:
    service = await make(db, registry(cron="0 3 * * *", timezone="Europe/Berlin"))
    with pytest.raises(BadRequest, match="invalid cron expression"):
        await service.schedules.create(ScheduleInput(task="job", cron="61 * * * *"))
    with pytest.raises(BadRequest, match="unknown time zone"):
        await service.schedules.create(ScheduleInput(task="job", cron="@hourly", timezone="Nowhere/Land"))
    a, created = await service.schedules.create(ScheduleInput(task="job", cron="@hourly", deduplication_key="k"))
    b, again = await service.schedules.create(ScheduleInput(task="job", cron="@daily", deduplication_key="k"))
    assert created and not again and a.id == b.id and b.cron == "@daily"
    await service.schedules.sync_config()
    declared = [s for s in (await service.schedules.page())[0] if s.declarative]
    assert len(declared) == 1 and declared[0].cron == "0 3 * * *" and declared[0].timezone == "Europe/Berlin"
    cursor = declared[0].next_key
    await service.schedules.sync_config()  # a restart: the cursor stays, so missed ticks are still found
    assert (await service.schedules.get(declared[0].id)).next_key == cursor
    with pytest.raises(BadRequest, match=r"runyard\.toml"):
        await service.schedules.delete(declared[0].id)
    off = await service.schedules.set_active(a.id, False)
    assert not off.active and service.schedules.upcoming(off) == []
    assert len(service.schedules.upcoming(await service.schedules.set_active(a.id, True))) == 5
    await service.store.close()


async def test_a_schedule_of_an_unconfigured_task_moves_on_without_runs(db: Path) -> None:
    service = await make(db, registry())
    schedule, _ = await service.store.upsert_schedule(
        ScheduleParams(
            id=new_ulid(),
            task="ghost",
            cron="* * * * *",
            next_key=wall(2026, 1, 5, 10, 0),
            next_run_at=utc(2026, 1, 5, 10, 0),
        )
    )
    assert await service.schedules.fire_due(utc(2026, 1, 5, 10, 3, 30)) == []
    moved = await service.schedules.get(schedule.id)
    assert moved.next_run_at == utc(2026, 1, 5, 10, 4)  # not due again: the maintainer does not spin on it
    assert await service.store.due_schedules(utc(2026, 1, 5, 10, 3, 59), 10) == []
    await service.store.close()
