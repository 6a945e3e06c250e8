"""The maintenance loop: promotes delayed runs, expires runs past their ttl, reaps lost leases.

It sleeps until the next due time the store reports (or a wake-up), capped by the lease period, so
an idle server issues a handful of reads a minute, not a poll storm; the (writing) maintenance pass runs
only when something is due, and then wakes the workers (a retry may have become available). Every pass
is idempotent, so several processes may run it against one store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from runyard.events import EventBus
from runyard.ids import now_us
from runyard.settings import Settings
from runyard.store.base import Store

log = logging.getLogger("runyard.scheduler")


class Maintainer:
    def __init__(self, store: Store, events: EventBus, settings: Settings) -> None:
        self.store = store
        self.events = events
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="runyard-maintainer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        result = await self.store.maintain()
        if result.promoted or result.requeued or result.expired or result.crashed:
            self.events.work_available.set()
        for run_id in result.expired + result.crashed + result.requeued:
            run = await self.store.get_run(run_id)
            if run is not None:
                kind = {"expired": "expired", "crashed": "crashed"}.get(run.status.value, "requeued")
                self.events.publish(kind, run)

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
