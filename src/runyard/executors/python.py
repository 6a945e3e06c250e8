"""The Python executor: `module:function` (or an @runyard.task function), sync or async, payload in."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
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


class PythonExecutor(Executor):
    """Async functions run on the loop and are cancelled on stop. Sync functions run in a thread; a thread
    cannot be killed, so on stop the attempt ends at once and the thread finishes in the background."""

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
        work: asyncio.Future[Any] = (
            asyncio.ensure_future(fn(*args)) if is_async else asyncio.ensure_future(asyncio.to_thread(fn, *args))
        )
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
