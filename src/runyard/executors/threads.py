"""The bounded thread pool sync Python tasks run on, and how a stop reaches code running on it.

- A worker owns one pool sized by its concurrency: threads are started on demand up to that size and reused;
  a run never gets a thread of its own. Since the worker never runs more attempts than its concurrency, a job
  never waits for a thread. The threads are daemons: they never hold up a process that is exiting.
- Stopping a job (cancel, timeout, max duration, worker shutdown) raises `RunStopped` inside its thread with
  `PyThreadState_SetAsyncExc`, as Temporal's Python SDK does for sync activities. The interpreter delivers it
  at the next bytecode boundary, so Python code stops at once; code that catches it is sent it again every
  `RETRY_S` seconds. Code blocked in a C call (a socket read, `time.sleep`, a lock) receives it only when that
  call returns: `stop()` reports this as "still running in native code".
- A job's future resolves only when its function has really returned: the executor awaits it, so the run's
  queue slot (and its concurrency key's slot) stays taken until the code has stopped.
- An exception set just as the function returns can land in the pool's own code; the pool catches it there,
  and clears any pending one before taking the next job, so a stop never leaks into another run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import queue
import threading
from collections.abc import Callable
from typing import Any

RETRY_S = 0.5
_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


class RunStopped(BaseException):
    """Raised inside a sync task's thread when its run is canceled, timed out or its worker stops.
    A BaseException, so `except Exception` in task code does not swallow it."""


class Job:
    """One function call on the pool. `future` resolves (on the loop) when the function has returned."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], context: contextvars.Context) -> None:
        self.fn = fn
        self.args = args
        self.context = context
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = self.loop.create_future()
        self.thread_id: int | None = None  # set while the function runs
        self.stopping = False
        self._ok = True
        self._value: Any = None

    def run(self) -> None:
        try:
            self._value = self.context.run(self.fn, *self.args)
        except BaseException as exc:  # the task's failure is its outcome
            self._ok, self._value = False, exc

    def settle(self) -> None:
        ok, value = self._ok, self._value
        self._value = None

        def resolve() -> None:
            if not self.future.done():
                self.future.set_result(value) if ok else self.future.set_exception(value)

        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits for this result any more
            self.loop.call_soon_threadsafe(resolve)


class TaskThreads:
    """At most `size` reusable daemon threads running `Job`s."""

    def __init__(self, size: int, name: str = "runyard-task") -> None:
        self.size = max(1, size)
        self.name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()  # guards _idle, _threads and every job's thread_id

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], context: contextvars.Context) -> Job:
        """Run `fn(*args)` inside `context` on a pool thread (call from the event loop)."""
        job = Job(fn, args, context)
        with self._lock:
            if self._idle <= 0 and len(self._threads) < self.size:
                thread = threading.Thread(target=self._serve, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1
        self._jobs.put(job)
        return job

    def stop(self, job: Job) -> bool:
        """Raise RunStopped in the job's thread if its function is still running; True if it was."""
        with self._lock:
            job.stopping = True
            if job.thread_id is None:
                return False
            _set_async_exc(job.thread_id, RunStopped)
            return True

    def close(self) -> None:
        """Let idle threads exit (busy ones exit after their job)."""
        with self._lock:
            count = len(self._threads)
            self._threads.clear()
            self._idle = 0
        for _ in range(count):
            self._jobs.put(None)

    @property
    def threads(self) -> int:
        return len(self._threads)

    def _serve(self) -> None:
        me = threading.get_ident()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                with self._lock:
                    job.thread_id = None if job.stopping else me
                if job.thread_id is not None:
                    job.run()
                else:
                    job._ok, job._value = False, RunStopped()
            except RunStopped:  # arrived between the function's return and the line below
                pass
            self._finish(job, me)

    def _finish(self, job: Job, me: int) -> None:
        while True:
            try:
                with self._lock:
                    job.thread_id = None
                    _clear_async_exc(me, None)  # NULL clears a stop that is still pending
                    self._idle += 1
                break
            except RunStopped:
                continue
        job.settle()
