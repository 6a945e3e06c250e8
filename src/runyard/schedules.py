"""Schedules: the engine API for cron schedules (create, update, activate, list, delete) and the firing of ticks.

Firing plans each due schedule's ticks in Python (runyard.cron) and commits them with one store operation
that moves the schedule's cursor only if no other process moved it first; runs also carry a unique
(schedule, tick) key. So each tick makes exactly one run, whatever the number of server processes.

After downtime the overdue ticks go through the task's `catch_up`: the newest N of them run (all with
`catch_up = "all"`), the others are recorded as ended runs with end reason `missed`. A tick whose local time
was skipped by a DST change is recorded with end reason `dst_skipped`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING

import msgspec

from runyard import cron
from runyard.errors import BadRequest, NotFoundError
from runyard.events import EventBus
from runyard.ids import new_ulid, now_us, us_to_rfc3339
from runyard.models import CATCH_UP_ALL, EndReason, OverlapPolicy, Schedule, TaskDef, TriggeredBy
from runyard.store.base import (
    EnqueueParams,
    EnqueueResult,
    FireParams,
    ListSchedulesParams,
    NotFound,
    Overlap,
    ScheduleParams,
    Store,
)
from runyard.tasks import TaskRegistry

if TYPE_CHECKING:
    from runyard.service import Service

log = logging.getLogger("runyard.schedules")

ON_TIME_S = 60.0  # a tick fired within this long after it was due is on time, not missed
MAX_OVERDUE_TICKS = 1000  # overdue ticks looked at per schedule and pass (older ones are passed over)
MAX_MISSED_RECORDED = 100  # missed ticks recorded as runs per pass (older ones are only logged)
MAX_TICK_SCAN = 100_000  # ticks scanned per schedule and pass before the cursor jumps to now
UPCOMING = 5  # dates in a scheduled run's payload (what Trigger.dev's scheduled tasks get)
CONFIG_KEY_PREFIX = "runyard.toml:"
SCHEDULE_ID_PREFIX = "sched_"  # a schedule's id as Trigger.dev spells it (the API accepts both forms)


class ScheduleInput(msgspec.Struct, kw_only=True):
    """What a dialect asks for when it creates or updates a schedule."""

    task: str
    cron: str
    timezone: str = "UTC"
    external_id: str | None = None
    deduplication_key: str | None = None
    active: bool = True
    payload: bytes | None = None  # JSON text every tick's run gets (None: the tick's description)
    tags: list[str] = msgspec.field(default_factory=list)


class Plan(msgspec.Struct, kw_only=True):
    runs: list[EnqueueParams]
    next_key: int
    next_run_at: int
    last_run_at: int | None


def overlap_of(task: TaskDef) -> Overlap:
    """A task's overlap rule: skip and kill treat one executing run as busy unless a limit is set."""
    limit = task.concurrency_limit
    if limit is None and task.on_overlap is not OverlapPolicy.QUEUE:
        limit = 1
    return Overlap(policy=task.on_overlap, limit=limit, max_queued=task.max_queued)


class Schedules:
    def __init__(self, store: Store, tasks: TaskRegistry, events: EventBus, service: Service) -> None:
        self.store = store
        self.tasks = tasks
        self.events = events
        self.service = service

    # -- the API -------------------------------------------------------------------------------------
    def _check(self, data: ScheduleInput) -> cron.CronSpec:
        if self.tasks.get(data.task) is None:
            raise NotFoundError(f"task {data.task!r} not found")
        try:
            spec = cron.parse(data.cron)
            cron.zone(data.timezone)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return spec

    def _params(
        self, data: ScheduleInput, *, schedule_id: str | None = None, declarative: bool = False
    ) -> ScheduleParams:
        spec = self._check(data)
        first = spec.first_after(now_us(), cron.zone(data.timezone))
        return ScheduleParams(
            id=schedule_id or new_ulid(), task=data.task, cron=data.cron, timezone=data.timezone,
            active=data.active, declarative=declarative, external_id=data.external_id,
            deduplication_key=data.deduplication_key, next_key=first.key, next_run_at=first.due,
            payload=data.payload, tags=data.tags,
        )  # fmt: skip

    async def create(self, data: ScheduleInput) -> tuple[Schedule, bool]:
        """Create a schedule; the same deduplication key updates and returns the existing one."""
        if data.deduplication_key is not None:
            existing = await self.store.get_schedule_by_key(data.deduplication_key)
            if existing is not None and existing.declarative:
                raise BadRequest("a schedule from runyard.toml has this deduplication key; change it there")
        schedule, created = await self.store.upsert_schedule(self._params(data))
        self.events.schedule_changed.set()
        return schedule, created

    async def get(self, schedule_id: str) -> Schedule:
        schedule = await self.store.get_schedule(schedule_id)
        if schedule is None:
            raise NotFoundError("schedule not found")
        return schedule

    async def page(self, *, limit: int = 50, offset: int = 0, task: str | None = None) -> tuple[list[Schedule], int]:
        return await self.store.list_schedules(ListSchedulesParams(limit=limit, offset=offset, task=task))

    async def _change(self, schedule_id: str, data: ScheduleInput) -> Schedule:
        old = await self.get(schedule_id)
        if old.declarative:
            raise BadRequest("this schedule comes from runyard.toml: change it there")
        try:
            schedule = await self.store.update_schedule(schedule_id, self._params(data, schedule_id=schedule_id))
        except NotFound:
            raise NotFoundError("schedule not found") from None
        self.events.schedule_changed.set()
        return schedule

    async def update(self, schedule_id: str, data: ScheduleInput) -> Schedule:
        old = await self.get(schedule_id)
        data.active = old.active
        data.deduplication_key = old.deduplication_key
        if data.payload is None:
            data.payload, data.tags = old.payload, data.tags or old.tags
        return await self._change(schedule_id, data)

    async def set_active(self, schedule_id: str, active: bool) -> Schedule:
        old = await self.get(schedule_id)
        data = ScheduleInput(
            task=old.task, cron=old.cron, timezone=old.timezone, external_id=old.external_id,
            deduplication_key=old.deduplication_key, active=active, payload=old.payload, tags=old.tags,
        )  # fmt: skip
        return await self._change(schedule_id, data)

    async def delete(self, schedule_id: str) -> Schedule:
        old = await self.get(schedule_id)
        if old.declarative:
            raise BadRequest("this schedule comes from runyard.toml: remove its cron there")
        await self.store.delete_schedule(schedule_id)
        return old

    async def sync_config(self) -> None:
        """Make the stored declarative schedules those of the tasks' `cron` settings."""
        wanted = [
            self._params(
                ScheduleInput(
                    task=t.name, cron=t.cron, timezone=t.timezone, deduplication_key=CONFIG_KEY_PREFIX + t.name
                ),
                declarative=True,
            )
            for t in self.tasks
            if t.cron is not None
        ]
        await self.store.sync_declarative_schedules(wanted)
        self.events.schedule_changed.set()

    def upcoming(self, schedule: Schedule, count: int = UPCOMING) -> list[int]:
        """The due times of the schedule's next `count` ticks (none while inactive)."""
        if not schedule.active or schedule.next_key is None:
            return []
        ticks = cron.upcoming(schedule.cron, schedule.timezone, schedule.next_key, count)
        return [t.due for t in ticks]

    # -- firing ------------------------------------------------------------------------------------
    def plan(self, schedule: Schedule, task: TaskDef, now: int) -> Plan:
        """The runs for the schedule's ticks due by `now`, and where its cursor goes next."""
        assert schedule.next_key is not None
        spec = cron.parse(schedule.cron)
        tz = cron.zone(schedule.timezone)
        overdue: collections.deque[cron.Tick] = collections.deque(maxlen=MAX_OVERDUE_TICKS)
        skipped: list[cron.Tick] = []
        passed_over = 0
        ticks = cron.ticks(schedule.cron, schedule.timezone, schedule.next_key)
        nxt = next(ticks)
        scanned = 0
        while nxt.due <= now:
            scanned += 1
            if scanned > MAX_TICK_SCAN:  # far behind: jump to now
                nxt = spec.first_after(now, tz)
                passed_over += 1
                break
            if nxt.dst_skipped:
                skipped.append(nxt)
            else:
                if len(overdue) == overdue.maxlen:
                    passed_over += 1
                overdue.append(nxt)
            nxt = next(ticks)
        wanted = len(overdue) if task.catch_up == CATCH_UP_ALL else task.catch_up
        if overdue and now - overdue[-1].due <= ON_TIME_S * 1_000_000:
            wanted = max(wanted, 1)  # the newest tick is on time: it runs whatever the catch-up policy
        run_ticks = list(overdue)[len(overdue) - wanted :] if wanted else []
        missed = list(overdue)[: len(overdue) - len(run_ticks)]
        if len(missed) > MAX_MISSED_RECORDED:
            passed_over += len(missed) - MAX_MISSED_RECORDED
            missed = missed[-MAX_MISSED_RECORDED:]
        if passed_over:
            log.warning("schedule %s (task %s): %d+ missed ticks passed over", schedule.id, task.name, passed_over)
        upcoming = [t.due for t in cron.upcoming(schedule.cron, schedule.timezone, nxt.key, UPCOMING)]
        runs: list[EnqueueParams] = []
        last = schedule.last_run_at
        for tick, reason in sorted(
            [(t, None) for t in run_ticks] + [(t, EndReason.MISSED) for t in missed]
            + [(t, EndReason.DST_SKIPPED) for t in skipped],
            key=lambda item: item[0].key,
        ):  # fmt: skip
            runs.append(self._tick_run(schedule, task, tick, reason, last, upcoming))
            if reason is None:
                last = tick.due
        return Plan(runs=runs, next_key=nxt.key, next_run_at=nxt.due, last_run_at=last)

    def _tick_run(
        self, schedule: Schedule, task: TaskDef, tick: cron.Tick, reason: EndReason | None, last: int | None,
        upcoming: list[int],
    ) -> EnqueueParams:  # fmt: skip
        payload = {  # what Trigger.dev's scheduled tasks receive (ScheduledTaskPayload), ids in its `sched_` form
            "scheduleId": SCHEDULE_ID_PREFIX + schedule.id.lower(),
            "type": "DECLARATIVE" if schedule.declarative else "IMPERATIVE",
            "timestamp": us_to_rfc3339(tick.due),
            "lastTimestamp": us_to_rfc3339(last) if last is not None else None,
            "timezone": schedule.timezone,
            "externalId": schedule.external_id,
            "upcoming": [us_to_rfc3339(u) for u in upcoming],
        }
        from runyard.service import TriggerRequest

        req = TriggerRequest(
            task=task.name,
            payload=schedule.payload
            if schedule.payload is not None
            else msgspec.json.encode({k: v for k, v in payload.items() if v is not None}),
            tags=list(schedule.tags),
            triggered_by=TriggeredBy.CRON,
        )
        params = self.service.enqueue_params(req)
        params.schedule_id = schedule.id
        params.schedule_key = tick.key
        params.end_reason = reason
        params.overlap = overlap_of(task)
        return params

    async def fire_due(self, now: int | None = None, limit: int = 500) -> list[EnqueueResult]:
        """Fire every schedule due at `now`: the "fire schedules" duty. Safe with several processes. The
        schedules' firings are submitted together, so they share the store's group commits."""
        now = now_us() if now is None else now
        firings = [f for f in (self._firing(s, now) for s in await self.store.due_schedules(now, limit)) if f]
        made: list[EnqueueResult] = []
        for result in await asyncio.gather(*(self.store.fire_schedule(f) for f in firings)):
            if result.fired:
                made.extend(result.results)
        if made:
            await self.service.announce(made)
        return made

    def _firing(self, schedule: Schedule, now: int) -> FireParams | None:
        if schedule.next_key is None:
            return None
        task = self.tasks.get(schedule.task)
        try:
            if task is None:  # its task is not configured here: the ticks pass without runs
                log.warning("schedule %s: task %r is not configured; its ticks pass", schedule.id, schedule.task)
                spec, tz = cron.parse(schedule.cron), cron.zone(schedule.timezone)
                nxt = spec.first_after(now, tz)
                plan = Plan(runs=[], next_key=nxt.key, next_run_at=nxt.due, last_run_at=schedule.last_run_at)
            else:
                plan = self.plan(schedule, task, now)
        except Exception:
            log.exception("schedule %s: cannot plan its ticks", schedule.id)
            return None
        return FireParams(
            schedule_id=schedule.id, expected_key=schedule.next_key, next_key=plan.next_key,
            next_run_at=plan.next_run_at, last_run_at=plan.last_run_at, runs=plan.runs,
        )  # fmt: skip
