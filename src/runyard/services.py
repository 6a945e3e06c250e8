"""Services: tasks with `instances = N` kept running as N replicas, and startup tasks.

Each replica is a run (`triggered_by` service, `replica_index` 0..N-1). The store allows one live run per
(task, replica), so several servers on one store never start a replica twice. When a replica's run ends, it
is started again after a capped exponential backoff (reset once a replica has stayed up for a while). On
shutdown the replicas are stopped with end reason `daemon_stopped`. A reconcile pass every few seconds
covers replicas ended by another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from runyard.events import EventBus
from runyard.ids import now_us
from runyard.models import EndReason, Run, TaskDef, TriggeredBy
from runyard.service import Service, TriggerRequest

log = logging.getLogger("runyard.services")

RECONCILE_S = 5.0
STABLE_S = 30.0  # a replica up this long resets its backoff


class Supervisor:
    def __init__(self, service: Service, events: EventBus) -> None:
        self.service = service
        self.events = events
        self._failures: dict[tuple[str, int], int] = {}
        self._pending: dict[tuple[str, int], asyncio.TimerHandle] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._stopping = False
        self._spawned: set[asyncio.Task[None]] = set()
        self._parked: set[str] = set()  # services stopped until a restart (RunWisp's stop)

    def services(self) -> list[TaskDef]:
        return [t for t in self.service.tasks if t.instances > 0]

    async def start(self) -> None:
        """Start the startup tasks once, then every service replica that is not already running."""
        for task in self.service.tasks:
            if task.run_on_start:
                await self.service.trigger(TriggerRequest(task=task.name, triggered_by=TriggeredBy.STARTUP))
        if not self.services():
            return
        self._unsubscribe = self.events.subscribe(self._on_event)
        await self.reconcile()
        self._loop_task = asyncio.create_task(self._reconcile_loop(), name="runyard-services")

    async def stop(self) -> list[str]:
        """Stop every replica (end reason daemon_stopped); returns the runs stopped."""
        self._stopping = True
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if not self.services():
            return []
        return await self.service.stop_replicas(None, EndReason.DAEMON_STOPPED)

    async def park(self, task_name: str) -> list[str]:
        """Stop a service's replicas and keep them stopped until `restart` (or this process restarts)."""
        task = self.service.task(task_name)
        self._parked.add(task.name)
        for i in range(task.instances):
            handle = self._pending.pop((task.name, i), None)
            if handle is not None:
                handle.cancel()
        return await self.service.stop_replicas(task.name, EndReason.STOPPED)

    async def restart(self, task_name: str) -> list[Run]:
        """Stop a service's replicas and start them again at once (RunWisp's restart endpoint); a parked
        service starts again."""
        task = self.service.task(task_name)
        self._parked.discard(task.name)
        await self.service.stop_replicas(task.name, EndReason.STOPPED)
        for i in range(task.instances):
            self._failures.pop((task.name, i), None)
            handle = self._pending.pop((task.name, i), None)
            if handle is not None:
                handle.cancel()
        return [await self._start_replica(task, i) for i in range(task.instances)]

    async def reconcile(self) -> None:
        """Start every replica that has no live run and no restart pending."""
        for task in self.services():
            if task.name in self._parked:
                continue
            for i in range(task.instances):
                if (task.name, i) not in self._pending:
                    await self._start_replica(task, i)

    async def _start_replica(self, task: TaskDef, index: int) -> Run:
        return await self.service.start_replica(task.name, index)

    def _on_event(self, kind: str, run: Run) -> None:
        if self._stopping or run.triggered_by is not TriggeredBy.SERVICE or not run.is_final:
            return
        task = self.service.tasks.get(run.task)
        if task is None or task.instances <= run.replica_index or task.name in self._parked:
            return
        key = (task.name, run.replica_index)
        if key in self._pending:
            return
        up_s = ((run.ended_at or now_us()) - (run.started_at or run.created_at)) / 1e6
        failures = 0 if up_s >= STABLE_S else self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(task.restart_max_s, task.restart_min_s * 2 ** max(0, failures - 1))
        log.info("service %s replica %d ended (%s): restart in %.1fs", task.name, run.replica_index, kind, delay)
        loop = asyncio.get_running_loop()
        self._pending[key] = loop.call_later(delay, self._restart_later, task, run.replica_index)

    def _restart_later(self, task: TaskDef, index: int) -> None:
        self._pending.pop((task.name, index), None)
        if self._stopping or task.name in self._parked:
            return
        spawned = asyncio.ensure_future(self._start_replica_logged(task, index))
        self._spawned.add(spawned)
        spawned.add_done_callback(self._spawned.discard)

    async def _start_replica_logged(self, task: TaskDef, index: int) -> None:
        try:
            await self._start_replica(task, index)
        except Exception:
            log.exception("cannot restart service %s replica %d", task.name, index)

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_S)
            try:
                await self.reconcile()
            except Exception:
                log.exception("service reconcile failed")
