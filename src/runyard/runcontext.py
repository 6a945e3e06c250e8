"""`runyard.context()`: what a running Python task can know about its run and tell the APIs.

    import runyard

    @runyard.task()
    def resize(payload):
        ctx = runyard.context()
        ctx.logger.info("resizing %s", payload["file"])   # into this run's log
        ctx.set_progress(0.5)                              # run metadata {"progress": 0.5}
        ctx.sleep(2)                                       # a sleep that ends when the run is stopped

Works the same from sync and async tasks, and from threads the task starts. Metadata writes are coalesced:
the latest metadata is stored at most once per loop turn while the task runs, and once more when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from runyard.capture import RunCapture, current
from runyard.executors.base import ExecutionContext
from runyard.executors.threads import RunStopped

RUN_LOGGER = logging.getLogger("runyard.run")
RUN_LOGGER.setLevel(logging.INFO)


@dataclass
class RunScope:
    """The executor's side of one Python attempt: where its output goes and how it is stopped."""

    execution: ExecutionContext
    capture: RunCapture
    loop: asyncio.AbstractEventLoop
    loop_thread: int
    stopping: bool = False
    context: RunContext | None = None
    _metadata_writer: asyncio.Task[None] | None = field(default=None, repr=False)

    def run_context(self) -> RunContext:
        if self.context is None:
            self.context = RunContext(self)
            if self.stopping:
                self.context._stopped.set()
        return self.context

    def stop(self) -> None:
        self.stopping = True
        if self.context is not None:
            self.context._stopped.set()

    async def close(self) -> None:
        """After the task has stopped: store its last metadata and the rest of its output."""
        ctx = self.context
        if ctx is not None:
            if self._metadata_writer is not None and not self._metadata_writer.done():
                await self._metadata_writer
            with ctx._lock:
                dirty, ctx._writing = ctx._dirty, ctx._dirty or ctx._writing
            if dirty:
                await ctx._write_metadata()
        await self.capture.close()


class RunContext:
    """The run as its task sees it. Get it with `runyard.context()`."""

    def __init__(self, scope: RunScope) -> None:
        ex = scope.execution
        self._scope = scope
        self.run_id: str = ex.run.id
        self.attempt: int = ex.attempt_number
        self.task: str = ex.task.name
        self.tags: list[str] = list(ex.run.tags)
        self.metadata: dict[str, Any] = copy.deepcopy(ex.run.metadata) if ex.run.metadata else {}
        self.logger: logging.Logger = RUN_LOGGER
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._dirty = False
        self._writing = False

    @property
    def stopping(self) -> bool:
        """True once the run is canceled, timed out, or its worker stops."""
        return self._stopped.is_set()

    def sleep(self, seconds: float) -> None:
        """Sleep, but raise RunStopped at once when the run is stopped (time.sleep cannot be interrupted)."""
        if self._stopped.wait(seconds):
            raise RunStopped()

    def set_metadata(self, key: str, value: Any) -> None:
        """Set one key of the run's metadata (JSON values); the native and Trigger.dev APIs show it."""
        self.update_metadata({key: value})

    def update_metadata(self, values: dict[str, Any]) -> None:
        with self._lock:
            self.metadata.update(values)
            self._dirty = True
            if self._writing:
                return
            self._writing = True
        loop = self._scope.loop
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is exiting
            if threading.get_ident() == self._scope.loop_thread:
                loop.call_soon(self._start_writer, context=contextvars.Context())
            else:
                loop.call_soon_threadsafe(self._start_writer, context=contextvars.Context())

    def set_progress(self, fraction: float, message: str | None = None) -> None:
        """Progress from 0 to 1 (and a message), kept in metadata as `progress` and `progressMessage`."""
        values: dict[str, Any] = {"progress": max(0.0, min(1.0, float(fraction)))}
        if message is not None:
            values["progressMessage"] = message
        self.update_metadata(values)

    def _start_writer(self) -> None:
        self._scope._metadata_writer = self._scope.loop.create_task(self._write_metadata())

    async def _write_metadata(self) -> None:
        while True:
            with self._lock:
                if not self._dirty:
                    self._writing = False
                    return
                self._dirty = False
                snapshot = copy.deepcopy(self.metadata)
            try:
                await self._scope.execution.set_metadata(snapshot)
            except Exception:
                logging.getLogger("runyard.worker").exception("metadata of run %s not stored", self.run_id)


def context() -> RunContext:
    """The context of the run this code executes for. Raises RuntimeError outside a running task."""
    scope = current.get()
    if scope is None:
        raise RuntimeError("runyard.context() is available only while a runyard task runs")
    return scope.run_context()
