"""The executor interface: run one attempt of one run, report its outcome.

An executor never touches the store; the worker gives it the payload and a log sink, and turns the
returned `Outcome` into `complete_attempt` / `fail_attempt`.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from runyard.models import Run, TaskDef

LogSink = Callable[[str, str], Awaitable[None]]  # (stream, text) -> None; stream: stdout|stderr|system


class Outcome(msgspec.Struct, kw_only=True):
    """How an attempt ended.

    kind: "completed" | "failed" | "timed_out" | "canceled" | "start_failed"
    """

    kind: str
    output: bytes | None = None  # JSON text (completed)
    exit_code: int | None = None
    error: dict[str, Any] | None = None  # {message, name?, stackTrace?}
    retryable: bool = True


class ExecutionContext(msgspec.Struct, kw_only=True):
    run: Run
    task: TaskDef
    attempt_number: int
    log: LogSink
    # Set by the worker when the run is canceled or its time (max duration) runs out: the executor
    # stops the work gracefully and returns kind "canceled"; the worker knows which of the two it was.
    stop: asyncio.Event


class Executor(abc.ABC):
    kind: str

    @abc.abstractmethod
    async def execute(self, ctx: ExecutionContext) -> Outcome:
        """Run the attempt to its end. Must return (not raise) for every task-caused failure, and
        honour `ctx.stop` promptly (return kind "canceled")."""
