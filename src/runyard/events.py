"""Events: wake-ups for workers and the scheduler, cancels, and run lifecycle notifications.

Inside one process these signals make a trigger reach an idle worker without any polling delay. Across
processes on one machine the server's hub (`runyard.hub`) carries them: it watches `work_available` and the
cancel listeners and forwards both to every connected worker process, whose own bus fires them locally;
run events published in a worker process travel back and are published on the server's bus. Workers on
other machines are the PostgreSQL backend's part (LISTEN/NOTIFY); a worker without a server on the same
SQLite file notices new runs through `PRAGMA data_version` (`runyard.wakeup`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from runyard.models import Run
from runyard.run_events import RunEventLog

RunListener = Callable[[str, Run], None]


class Signal:
    """A level-triggered wake-up: `set()` from anywhere in the loop, `wait(timeout)` consumes it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._watchers: list[Callable[[], None]] = []

    def set(self) -> None:
        self._event.set()
        for watcher in self._watchers:
            watcher()

    def watch(self, watcher: Callable[[], None]) -> Callable[[], None]:
        """Also call `watcher` on every `set()` (to forward the signal to other processes)."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher)

    async def wait(self, timeout: float | None) -> bool:
        if not self._event.is_set():
            with contextlib.suppress(TimeoutError):  # asyncio.timeout, unlike wait_for, never swallows a cancel
                async with asyncio.timeout(timeout):
                    await self._event.wait()
        fired = self._event.is_set()
        self._event.clear()
        return fired


class EventBus:
    """Run lifecycle events (`created`, `started`, `completed`, `failed`, `canceled`, ...)."""

    def __init__(self) -> None:
        self.work_available = Signal()  # a run may be claimable now
        self.schedule_changed = Signal()  # a delayed run or ttl was added: re-plan maintenance
        self._listeners: list[RunListener] = []
        self._cancel_listeners: list[Callable[[str], None]] = []
        self._log_listeners: list[Callable[[str], None]] = []
        self.runs = RunEventLog()  # the typed, numbered run events every stream follows

    def subscribe(self, listener: RunListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def on_cancel(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Called with a run id when a run is canceled, so a local worker can stop it at once."""
        self._cancel_listeners.append(listener)
        return lambda: self._cancel_listeners.remove(listener)

    def publish(self, kind: str, run: Run) -> None:
        self.runs.record(kind, run)
        for listener in list(self._listeners):
            listener(kind, run)
        if kind == "canceled":
            self.request_cancel(run.id)

    def on_logs(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Called with a run id when lines of its log were stored (by a worker here or a worker process)."""
        self._log_listeners.append(listener)
        return lambda: self._log_listeners.remove(listener)

    def logs_written(self, run_id: str) -> None:
        for listener in list(self._log_listeners):
            listener(run_id)

    def request_cancel(self, run_id: str) -> None:
        """Tell the cancel listeners (workers) to stop `run_id`: a cancel that happened in another process."""
        for cancel_listener in list(self._cancel_listeners):
            cancel_listener(run_id)
