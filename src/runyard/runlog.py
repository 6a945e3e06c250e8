"""An attempt's log on its way to the store: buffered, appended in order in batches, and capped.

The store enforces the per-run cap against the run's stored size (so it holds across attempts and processes);
the buffer stops keeping lines as soon as the store says the log is full, or as soon as its own count (seeded
from the store's) passes the cap, so a task printing without end costs neither memory nor writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from runyard.logcap import line_bytes
from runyard.worker_store import WorkerStore

log = logging.getLogger("runyard.worker")
LOG_FLUSH_LINES = 256
LOG_FLUSH_SECONDS = 0.1


class LogBuffer:
    """Collects an attempt's output lines (the executor's `log` sink) and appends them to the store."""

    def __init__(
        self, store: WorkerStore, run_id: str, attempt: int, cap_bytes: int | None = None,
        on_flush: Callable[[str], None] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.on_flush = on_flush  # told the run id once lines are stored (live log readers wake up)
        self.run_id = run_id
        self.attempt = attempt
        self.cap_bytes = cap_bytes
        self._lines: list[tuple[str, str]] = []
        self._timer: asyncio.Task[None] | None = None
        self._used = 0  # bytes of the run's log as far as we know (the store's count after the first flush)
        self._full = False  # the cap is reached: further lines are dropped here (the store has said so)

    async def __call__(self, stream: str, text: str) -> None:
        if self._full:
            return
        if self.cap_bytes is not None:
            if self._used > self.cap_bytes:  # a line past the cap is queued already: the store writes the notice
                return
            self._used += line_bytes(text)
        self._lines.append((stream, text))
        if len(self._lines) >= LOG_FLUSH_LINES:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(LOG_FLUSH_SECONDS)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        lines, self._lines = self._lines, []
        if not lines or self._full:
            return
        size = await self.store.append_logs(self.run_id, self.attempt, lines, self.cap_bytes)
        self._used = size.bytes + sum(line_bytes(t) for _, t in self._lines)
        self._full = size.truncated
        if self.on_flush is not None:
            self.on_flush(self.run_id)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.flush()
