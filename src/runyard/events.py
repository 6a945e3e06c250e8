"""In-process events: wake-ups for workers and the scheduler, and run lifecycle notifications.

Across processes the store provides wake-ups (LISTEN/NOTIFY on PostgreSQL, short polls on SQLite);
inside one process these signals make a trigger reach an idle worker without any polling delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from runyard.models import Run

RunListener = Callable[[str, Run], None]


class Signal:
    """A level-triggered wake-up: `set()` from anywhere in the loop, `wait(timeout)` consumes it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float | None) -> bool:
        if not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
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

    def subscribe(self, listener: RunListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def on_cancel(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Called with a run id when a run is canceled, so a local worker can stop it at once."""
        self._cancel_listeners.append(listener)
        return lambda: self._cancel_listeners.remove(listener)

    def publish(self, kind: str, run: Run) -> None:
        for listener in list(self._listeners):
            listener(kind, run)
        if kind == "canceled":
            for cancel_listener in list(self._cancel_listeners):
                cancel_listener(run.id)
