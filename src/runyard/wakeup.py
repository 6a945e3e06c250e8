"""Wake-ups for a worker that has no server on its machine: watch SQLite's `PRAGMA data_version`.

`runyard worker` next to a running server gets wake-ups and cancels over the server's socket (see
`runyard.hub`). Without a server it opens the database itself and must notice runs that another process
created. `PRAGMA data_version` on a connection of its own changes whenever another connection commits; it
is read a few times a second (`[server] poll_interval`, 0.5 s by default), costs microseconds, and never
writes. Any change wakes the workers, which then claim.

Limits: a new run is noticed within one interval (not the ~1 ms of the socket), a cancel only at the next
heartbeat (a third of the lease), and only processes on the same machine share the file. Workers on other
machines are the PostgreSQL backend's part (LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from runyard.events import Signal


class DataVersionWatcher:
    def __init__(self, path: Path, signal: Signal, interval_s: float = 0.5) -> None:
        self.path = path
        self.signal = signal
        self.interval_s = interval_s
        self.reads = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="runyard-data-version")

    async def _loop(self) -> None:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        try:
            last = conn.execute("PRAGMA data_version").fetchone()[0]
            while True:
                await asyncio.sleep(self.interval_s)
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                self.reads += 1
                if version != last:
                    last = version
                    self.signal.set()
        finally:
            conn.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
