"""Routing what a Python task prints and logs into its run's log, by a context variable.

`install()` (idempotent, cheap: the Python executor calls it for every run) puts three things in place once:

- `sys.stdout` / `sys.stderr` become proxies that write to the current run's capture, or to the real stream
  when no run is current (the server's own output is untouched);
- `logging.Logger.callHandlers` is wrapped: while a run is current, a record reaching the root logger goes to
  the run's log instead of the root's handlers (the server's), as "LEVEL logger: message" on stderr; handlers
  a task attached to its own loggers still get their records. Levels filter as usual (the root logger is at
  WARNING unless configured; `runyard.context().logger` lets INFO through);
- `threading.Thread.start` is wrapped: a thread started while a run is current runs in a copy of that
  context, so what it prints and logs goes to the run too (threads started before, e.g. by a pool created
  outside the task, keep the context they had).

The current run is a `ContextVar`: the executor sets it in the context of the task's asyncio task or pool job,
so concurrent runs on one worker never mix their output. A `RunCapture` collects complete lines from any
thread under a lock, in order across streams, and hands them to the run's async log sink on the loop in
batches (one loop wake-up per batch, not per line).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from runyard.executors.base import LogSink

if TYPE_CHECKING:
    from runyard.runcontext import RunScope

current: contextvars.ContextVar[RunScope | None] = contextvars.ContextVar("runyard_run", default=None)
_formatter = logging.Formatter()


class RunCapture:
    """A run's stdout, stderr and log records on their way to its log sink."""

    def __init__(self, log: LogSink, loop: asyncio.AbstractEventLoop) -> None:
        self._log = log
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str]] = []
        self._partial: dict[str, str] = {}
        self._scheduled = False
        self._drainer: asyncio.Task[None] | None = None

    def write(self, stream: str, data: str) -> None:
        """Add text to `stream`; complete lines go to the log (any thread)."""
        with self._lock:
            text = self._partial.pop(stream, "") + data if self._partial else data
            if "\n" not in text:
                if text:
                    self._partial[stream] = text
                return
            *complete, rest = text.split("\n")
            if rest:
                self._partial[stream] = rest
            self._pending.extend((stream, line) for line in complete)
            if self._scheduled:
                return
            self._scheduled = True
        # outside the run's context: what the log sink (the worker, the store) logs is the server's, not the run's
        if threading.get_ident() == self._loop_thread:
            self._loop.call_soon(self._kick, context=contextvars.Context())
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the process is exiting
                self._loop.call_soon_threadsafe(self._kick, context=contextvars.Context())

    def line(self, stream: str, text: str) -> None:
        """Add one whole line (a log record), ending a partial line of that stream first."""
        self.write(stream, text + "\n")

    def _kick(self) -> None:
        if self._drainer is None or self._drainer.done():
            self._drainer = self._loop.create_task(self._drain(), context=contextvars.Context())

    async def _drain(self) -> None:
        while True:
            with self._lock:
                lines, self._pending = self._pending, []
                if not lines:
                    self._scheduled = False
                    return
            for stream, text in lines:
                await self._log(stream, text)

    async def close(self) -> None:
        """Pass on everything written so far, partial lines included (on the loop, after the task ended)."""
        if self._drainer is None and not self._pending and not self._partial:
            return  # nothing was written (the common case): no lock, no task
        with self._lock:
            for stream, text in self._partial.items():
                self._pending.append((stream, text))
            self._partial.clear()
            self._scheduled = True
        if self._drainer is not None and not self._drainer.done():
            await self._drainer
        await self._drain()


class _Stream:
    """sys.stdout / sys.stderr: the current run's capture, or the real stream."""

    def __init__(self, name: str, real: TextIO) -> None:
        self._name = name
        self._real = real

    def write(self, text: str) -> int:
        scope = current.get()
        if scope is None:
            return self._real.write(text)
        scope.capture.write(self._name, text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for text in lines:
            self.write(text)

    def flush(self) -> None:
        if current.get() is None:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


_original_call_handlers = logging.Logger.callHandlers
_original_thread_start = threading.Thread.start


def _call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
    scope = current.get()
    if scope is None:
        _original_call_handlers(self, record)
        return
    logger: logging.Logger | None = self
    while logger is not None:
        if isinstance(logger, logging.RootLogger):
            scope.capture.line("stderr", format_record(record))
            return
        for handler in logger.handlers:
            if record.levelno >= handler.level:
                handler.handle(record)
        logger = logger.parent if logger.propagate else None


def format_record(record: logging.LogRecord) -> str:
    text = f"{record.levelname} {record.name}: {record.getMessage()}"
    if record.exc_info:
        text += "\n" + _formatter.formatException(record.exc_info)
    if record.stack_info:
        text += "\n" + record.stack_info
    return text


def _thread_start(self: threading.Thread) -> None:
    if current.get() is not None:
        context = contextvars.copy_context()
        run: Callable[[], None] = self.run
        self.run = lambda: context.run(run)  # type: ignore[method-assign]
    _original_thread_start(self)


def install() -> None:
    """Put the proxies in place (again, if something such as a test runner swapped sys.stdout since)."""
    if not isinstance(sys.stdout, _Stream):
        sys.stdout = _Stream("stdout", sys.stdout)
    if not isinstance(sys.stderr, _Stream):
        sys.stderr = _Stream("stderr", sys.stderr)
    if logging.Logger.callHandlers is not _call_handlers:
        logging.Logger.callHandlers = _call_handlers  # type: ignore[method-assign]
    if threading.Thread.start is not _thread_start:
        threading.Thread.start = _thread_start  # type: ignore[method-assign]
