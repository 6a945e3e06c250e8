"""The maintenance loop and its named duties: promote delayed runs, expire runs past their ttl, rescue lost
leases, fire schedules.

Each duty is one method, testable alone, and idempotent: several processes may run them against one store
(conditional updates; schedule ticks are claimed by a compare-and-set on the schedule's cursor and a unique
(schedule, tick) key on runs). The loop sleeps until the next due time the store reports (or a wake-up),
capped by the lease period, so an idle server issues a handful of reads a minute, not a poll storm; the
(writing) duties run only when something is due, and then wake the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from runyard.events import EventBus
from runyard.ids import now_us
from runyard.service import Service
from runyard.settings import Settings
from runyard.store.base import EnqueueResult, Store

log = logging.getLogger("runyard.scheduler")


class Maintainer:
    def __init__(self, store: Store, events: EventBus, settings: Settings, service: Service | None = None) -> None:
        self.store = store
        self.events = events
        self.settings = settings
        self.service = service
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="runyard-maintainer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- duties ----------------------------------------------------------------------------------------
    async def promote_delayed(self, now: int) -> int:
        """Queue delayed runs that are due."""
        promoted = await self.store.promote_delayed(now)
        if promoted:
            self.events.work_available.set()
        return promoted

    async def expire(self, now: int) -> list[str]:
        """End runs whose ttl passed before they started."""
        expired = await self.store.expire_runs(now)
        await self._publish("expired", expired)
        return expired

    async def rescue_lost_leases(self, now: int) -> tuple[list[str], list[str]]:
        """Crash attempts whose worker stopped heartbeating: retry their runs, or end them as crashed.
        A run whose task retries as new runs ends as crashed, and `requeued` names the new run."""
        requeued, crashed = await self.store.rescue_lost_leases(now)
        if requeued:
            self.events.work_available.set()
        await self._publish("crashed", crashed)
        await self._publish("requeued", requeued)
        return requeued, crashed

    async def fire_schedules(self, now: int) -> list[EnqueueResult]:
        """Make the runs of schedule ticks that are due (one run per tick, whatever the processes)."""
        if self.service is None:
            return []
        return await self.service.schedules.fire_due(now)

    async def run_once(self) -> None:
        now = now_us()
        await self.promote_delayed(now)
        await self.expire(now)
        await self.rescue_lost_leases(now)
        await self.fire_schedules(now)

    async def _publish(self, kind: str, run_ids: list[str]) -> None:
        for run_id in run_ids:
            run = await self.store.get_run(run_id)
            if run is not None:
                self.events.publish("created" if kind == "requeued" and run.retry_of else kind, run)

    async def _loop(self) -> None:
        cap = max(0.2, min(self.settings.lease_s / 3, 5.0))
        due: int | None = now_us()  # one pass at start: leases of a previous life may have expired
        while True:
            try:
                if due is not None and due <= now_us():
                    await self.run_once()
                    self.events.work_available.set()
                due = await self.store.next_due_at()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep maintaining; a failed pass is retried on the next tick
                log.exception("maintenance pass failed")
                due = None
            sleep = cap if due is None else min(cap, max(0.0, (due - now_us()) / 1e6))
            await self.events.schedule_changed.wait(sleep)
