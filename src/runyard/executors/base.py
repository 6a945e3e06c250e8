"""The executor interface: run one attempt of one run, report its outcome.

An executor never touches the store; the worker gives it the payload, a log sink, a metadata setter and the
resources of the process it runs in (a thread pool for sync Python code, a process-group tracker for
subprocesses), and turns the returned `Outcome` into `complete_attempt` / `fail_attempt`. Everything on the
context has a default, so an executor also runs outside a worker (tests, embedders).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from runyard.evals.spec import ItemResult, Span
from runyard.models import Run, TaskDef

if TYPE_CHECKING:
    from runyard.executors.threads import TaskThreads
    from runyard.reaper import Reaper

LogSink = Callable[[str, str], Awaitable[None]]  # (stream, text) -> None; stream: stdout|stderr|system
MetadataSink = Callable[[dict[str, Any]], Awaitable[None]]  # replaces the run's metadata (the APIs show it)
# (total items, results) -> None: records an evaluation run's item results and keeps its counts
ItemSink = Callable[[int, list[ItemResult]], Awaitable[None]]
# (project, start_us, end_us, limit) -> the spans of a project that started in the window, oldest first
SpanSource = Callable[[str, int, int, int], Awaitable[list[Span]]]


async def ignore_metadata(metadata: dict[str, Any]) -> None:
    """The default metadata sink: outside a worker, metadata stays with the task."""


async def ignore_items(total: int, results: list[ItemResult]) -> None:
    """The default item sink: outside a worker, an evaluation's results are only in its output."""


async def no_spans(project: str, start_us: int, end_us: int, limit: int) -> list[Span]:
    """The default span source: outside a worker there is no span store."""
    return []


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
    # Stores the run's metadata (runyard.context().metadata); called with the whole dict, coalesced.
    set_metadata: MetadataSink = ignore_metadata
    # Records the item results of an evaluation run (runyard.executors.evaluation).
    record_items: ItemSink = ignore_items
    # Reads spans (an evaluation waiting for answers that arrive as traces).
    find_spans: SpanSource = no_spans
    # The environment a subprocess starts from (before the task's own `env`): the allow-listed part of the
    # server's environment (runyard.taskenv). None: computed from the default allow-list.
    base_env: dict[str, str] | None = None
    # Identifies the worker process: every subprocess gets it as RUNYARD_WORKER_TOKEN, so its reaper can find
    # descendants that left their process group.
    worker_token: str = ""
    # The worker process's reaper (kills its process groups if the worker dies); None: not tracked.
    reaper: Reaper | None = None
    # The bounded pool sync Python tasks run on; None: a small pool of the executor's own.
    threads: TaskThreads | None = None


class Executor(abc.ABC):
    kind: str

    @abc.abstractmethod
    async def execute(self, ctx: ExecutionContext) -> Outcome:
        """Run the attempt to its end. Must return (not raise) for every task-caused failure, and
        honour `ctx.stop` promptly (return kind "canceled"). Returns only once the work has stopped."""
