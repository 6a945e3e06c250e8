"""The Python executor: `module:function` (or an @runyard.task function), sync or async, payload in.

- Async functions run as a task on the worker's loop; a stop cancels it (again every RETRY_S while it
  swallows the cancellation) and the attempt ends when the task has.
- Sync functions run on the worker's bounded thread pool (`executors.threads`); a stop raises `RunStopped`
  inside the thread, repeated while the code swallows it. The attempt ends when the function has returned,
  so the run's queue slot stays taken until then; code stuck in a C call is reported in the run's log.
- What the function prints or logs, also from threads it starts, goes to the run's log (`runyard.capture`),
  and `runyard.context()` is available to it (`runyard.runcontext`). A failure's traceback is written to the log
  (stderr) and is the error's stackTrace.
- Python tasks run inside the worker process: they share its environment, current directory and memory. The
  task's `env` and `cwd` apply to shell tasks only.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import msgspec

from runyard import capture
from runyard.executors.base import ExecutionContext, Executor, Outcome
from runyard.executors.threads import RETRY_S, Job, TaskThreads
from runyard.runcontext import RunScope
from runyard.tasks import load_callable

NATIVE_NOTICE_S = 1.0  # a sync task that has not stopped this long after the first stop is reported
NATIVE_NOTICE = (
    "still running in native code, slot kept: the stop was requested, but the task is blocked in a C call "
    "(a socket read, time.sleep, a lock); it stops when that call returns"
)
_RUNYARD_DIR = str(Path(__file__).resolve().parent.parent)
_fallback_threads: TaskThreads | None = None


def _task_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback without runyard's own leading frames (the executor, the pool)."""
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_RUNYARD_DIR):
        tb = tb.tb_next
    return tb


def error_of(exc: BaseException) -> dict[str, Any]:
    return {
        "message": str(exc) or type(exc).__name__,
        "name": type(exc).__name__,
        "stackTrace": "".join(traceback.format_exception(type(exc), exc, _task_frames(exc.__traceback__))),
    }


@functools.lru_cache(maxsize=512)
def target_of(target: str) -> tuple[Callable[..., Any], bool, bool]:
    """The function, whether it is async, and whether it takes the payload (imported once per target)."""
    fn = load_callable(target)
    try:
        takes_payload = bool(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        takes_payload = True
    return fn, inspect.iscoroutinefunction(fn), takes_payload


def _threads(ctx: ExecutionContext) -> TaskThreads:
    global _fallback_threads
    if ctx.threads is not None:
        return ctx.threads
    if _fallback_threads is None:  # outside a worker (tests, embedders): one small shared pool
        _fallback_threads = TaskThreads(8, name="runyard-task-fallback")
    return _fallback_threads


class PythonExecutor(Executor):
    kind = "python"

    async def execute(self, ctx: ExecutionContext) -> Outcome:
        try:
            fn, is_async, takes_payload = target_of(str(ctx.task.config["target"]))
        except Exception as exc:
            return Outcome(kind="start_failed", error=error_of(exc), retryable=False)
        try:
            payload = msgspec.json.decode(ctx.run.payload)
        except msgspec.DecodeError as exc:
            return Outcome(kind="failed", error=error_of(exc), retryable=False)
        args = (payload,) if takes_payload else ()
        capture.install()
        loop = asyncio.get_running_loop()
        scope = RunScope(execution=ctx, capture=capture.RunCapture(ctx.log, loop), loop=loop,
                         loop_thread=threading.get_ident())  # fmt: skip
        context = contextvars.copy_context()
        context.run(capture.current.set, scope)
        try:
            work: asyncio.Future[Any]
            if is_async:
                task = loop.create_task(fn(*args), context=context)
                work = task
                stopped = await self._run_async(ctx, scope, task)
            else:
                job = _threads(ctx).submit(fn, args, context)
                work = job.future
                stopped = await self._run_sync(ctx, scope, _threads(ctx), job)
            if stopped:
                return Outcome(kind="canceled", exit_code=-1)
            if work.cancelled():  # the task cancelled itself
                return Outcome(kind="failed", error={"message": "the task was cancelled", "name": "CancelledError"})
            failure = work.exception()
            if failure is not None:
                error = error_of(failure)
                for text in error["stackTrace"].rstrip("\n").split("\n"):
                    scope.capture.write("stderr", text + "\n")
                return Outcome(kind="failed", error=error)
            try:
                output = msgspec.json.encode(work.result())
            except (TypeError, msgspec.EncodeError) as enc:
                message = f"the task returned a value that is not JSON-serializable: {enc}"
                return Outcome(kind="failed", error={"message": message, "name": "OutputError"}, retryable=False)
            return Outcome(kind="completed", output=output, exit_code=0)
        finally:
            await scope.close()

    async def _run_async(self, ctx: ExecutionContext, scope: RunScope, work: asyncio.Task[Any]) -> bool:
        """Await the task; on stop cancel it until it has ended. True if it was stopped."""
        await asyncio.sleep(0)  # the task's first step runs now: a task that never awaits is done already
        if not await _first(work, ctx.stop):
            return False
        scope.stop()
        while not work.done():
            work.cancel()
            await asyncio.wait({work}, timeout=RETRY_S)
        return True

    async def _run_sync(self, ctx: ExecutionContext, scope: RunScope, threads: TaskThreads, job: Job) -> bool:
        """Await the job; on stop raise RunStopped in its thread until the function has returned."""
        if not await _first(job.future, ctx.stop):
            return False
        scope.stop()
        waited = 0.0
        reported = False
        while not job.future.done():
            threads.stop(job)
            await asyncio.wait({job.future}, timeout=RETRY_S)
            waited += RETRY_S
            if not reported and waited >= NATIVE_NOTICE_S and not job.future.done():
                reported = True
                await ctx.log("system", NATIVE_NOTICE)
        job.future.exception()  # retrieved: however it ended on its way out, the run was stopped
        return True


async def _first(work: asyncio.Future[Any], stop: asyncio.Event) -> bool:
    """Wait for `work` or `stop`; True if stop came first (work still running)."""
    if work.done():
        return False
    if stop.is_set():
        return True
    loop = asyncio.get_running_loop()
    stopper = loop.create_task(stop.wait())
    either = loop.create_future()

    def settle(_: object) -> None:
        if not either.done():
            either.set_result(None)

    work.add_done_callback(settle)
    stopper.add_done_callback(settle)
    try:
        await either
    finally:
        stopper.cancel()
        work.remove_done_callback(settle)
    return not work.done()
