"""The Python executor: `module:function` (or an @runyard.task function), sync or async, payload in."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
import traceback
from collections.abc import Callable
from typing import Any

import msgspec

from runyard.executors.base import ExecutionContext, Executor, Outcome
from runyard.tasks import load_callable


def error_of(exc: BaseException) -> dict[str, Any]:
    return {
        "message": str(exc) or type(exc).__name__,
        "name": type(exc).__name__,
        "stackTrace": "".join(traceback.format_exception(exc)),
    }


@functools.lru_cache(maxsize=512)
def _target(target: str) -> tuple[Callable[..., Any], bool, bool]:
    fn = load_callable(target)
    try:
        takes_payload = bool(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        takes_payload = True
    return fn, inspect.iscoroutinefunction(fn), takes_payload


def in_daemon_thread(fn: Callable[..., Any], args: tuple[Any, ...]) -> asyncio.Future[Any]:
    """Run a sync function on a daemon thread of its own. A thread cannot be killed: on stop the attempt ends
    at once and the thread finishes in the background; being a daemon, it never holds up a process that is
    shutting down (its run is then retried through its lease, like any run of a stopped worker)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def target() -> None:
        try:
            outcome: tuple[bool, Any] = (True, fn(*args))
        except BaseException as exc:
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits for this result any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=target, name=f"runyard-task-{getattr(fn, '__name__', 'fn')}", daemon=True).start()
    return future


class PythonExecutor(Executor):
    """Async functions run on the loop and are cancelled on stop; sync functions run on daemon threads."""

    kind = "python"

    async def execute(self, ctx: ExecutionContext) -> Outcome:
        try:
            fn, is_async, takes_payload = _target(str(ctx.task.config["target"]))
        except Exception as exc:
            return Outcome(kind="start_failed", error=error_of(exc), retryable=False)
        try:
            payload = msgspec.json.decode(ctx.run.payload)
        except msgspec.DecodeError as exc:
            return Outcome(kind="failed", error=error_of(exc), retryable=False)
        args = (payload,) if takes_payload else ()
        work: asyncio.Future[Any] = asyncio.ensure_future(fn(*args)) if is_async else in_daemon_thread(fn, args)
        stop = asyncio.ensure_future(ctx.stop.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not work.done():
            work.cancel()
            if is_async:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(work), 0.05)
            return Outcome(kind="canceled", exit_code=-1)
        failure = work.exception()
        if failure is not None:
            return Outcome(kind="failed", error=error_of(failure))
        try:
            output = msgspec.json.encode(work.result())
        except (TypeError, msgspec.EncodeError) as enc:
            message = f"the task returned a value that is not JSON-serializable: {enc}"
            return Outcome(kind="failed", error={"message": message, "name": "OutputError"}, retryable=False)
        return Outcome(kind="completed", output=output, exit_code=0)
