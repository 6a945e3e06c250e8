"""The worker: claims runs in batches, executes each attempt under a lease, reports outcomes to the store.

- Claims up to its free slots at once; when nothing is due it sleeps on the `work_available` signal of its
  event bus, without a timeout: nothing polls. The signal comes from a trigger in this process, from the
  server's hub (worker processes), from the maintainer when a delayed run or a retry falls due, or from the
  `PRAGMA data_version` watcher of a worker that has no server to talk to. A retry this worker schedules
  also wakes it when due.
- It talks to the store through `WorkerStore`: the real store in the server process, a `RemoteStore`
  (operations forwarded to the server) in a worker process.
- One heartbeat write per period extends the leases of all its live attempts; attempts the store says it no
  longer owns (canceled elsewhere, reaped after a stall) are stopped at once.
- Outcomes are written with conditional store operations: a worker that lost its lease cannot overwrite a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from runyard.evals.spec import ItemResult
from runyard.events import EventBus
from runyard.executors import executor_for
from runyard.executors.base import ExecutionContext, Outcome
from runyard.executors.threads import TaskThreads
from runyard.ids import new_ulid, now_us
from runyard.models import Attempt, AttemptStatus, Claimed, EndReason, Run, RunStatus, TaskDef
from runyard.reaper import Reaper
from runyard.retry import next_retry_delay
from runyard.runlog import LogBuffer
from runyard.settings import Settings
from runyard.store.base import ClaimParams, CompleteParams, FailParams
from runyard.taskenv import base_env
from runyard.tasks import TaskRegistry
from runyard.worker_store import WorkerStore, outcome_events

log = logging.getLogger("runyard.worker")
T = TypeVar("T")


@dataclass
class LiveAttempt:
    run: Run
    attempt: Attempt
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str | None = None  # why it was stopped: canceled | timeout | lost | shutdown

    def stop_for(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.stop.set()


class Worker:
    def __init__(
        self,
        store: WorkerStore,
        tasks: TaskRegistry,
        events: EventBus,
        settings: Settings,
        worker_id: str | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.events = events
        self.settings = settings
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{new_ulid()[-6:]}"
        self.concurrency = concurrency or settings.worker_concurrency
        self.live: dict[str, LiveAttempt] = {}  # by attempt id
        self._runs: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._slot_freed = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._wake_timers: set[asyncio.TimerHandle] = set()
        self.base_env = base_env(settings.pass_env)  # what subprocesses start from (never runyard's secrets)
        self.threads = TaskThreads(self.concurrency)  # sync Python tasks run here, never on a thread of their own
        grace = max((t.graceful_stop for t in tasks if t.kind == "shell"), default=5.0)
        self.reaper = Reaper(self.id, grace)  # kills this worker's process groups if it dies (started on use)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._unsubscribe = self.events.on_cancel(self._on_cancel)
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="runyard-claim"),
            asyncio.create_task(self._heartbeat_loop(), name="runyard-heartbeat"),
        ]

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming, let running attempts finish for `grace` seconds, then stop them. Runs still
        executing are left to their leases: the maintainer crashes and retries them after expiry."""
        for task in self._loops[:1]:
            task.cancel()
        if self._runs:
            await asyncio.wait(set(self._runs), timeout=self.settings.lease_s / 3 if grace is None else grace)
        for live in list(self.live.values()):
            live.stop_for("shutdown")
        if self._runs:
            await asyncio.wait(set(self._runs), timeout=10)
        for timer in self._wake_timers:
            timer.cancel()
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.reaper.close()
        self.threads.close()

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until no attempt is running (tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._runs and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait(set(self._runs), timeout=0.05)

    def _on_cancel(self, run_id: str) -> None:
        for live in self.live.values():
            if live.run.id == run_id:
                live.stop_for("canceled")

    # -- loops ------------------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        names = self.tasks.names()
        while True:
            free = self.concurrency - len(self.live)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                claimed = await self.store.claim_batch(
                    ClaimParams(worker_id=self.id, limit=free, lease_s=self.settings.lease_s, tasks=names)
                )
            except Exception:
                log.exception("claim failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for item in claimed:
                self._start(item)
            if len(claimed) < free:
                await self.events.work_available.wait(None)

    async def _heartbeat_loop(self) -> None:
        period = max(0.05, self.settings.lease_s / 3)
        while True:
            await asyncio.sleep(period)
            ids = list(self.live)
            if not ids:
                continue
            try:
                lost = await self.store.heartbeat(self.id, ids, self.settings.lease_s)
            except Exception:
                log.exception("heartbeat failed")
                continue
            for attempt_id in lost:
                live = self.live.get(attempt_id)
                if live is not None:
                    live.stop_for("lost")

    # -- one attempt --------------------------------------------------------------------------------
    def _start(self, claimed: Claimed) -> None:
        live = LiveAttempt(run=claimed.run, attempt=claimed.attempt)
        self.live[claimed.attempt.id] = live
        task = asyncio.create_task(self._execute(live), name=f"runyard-run-{claimed.run.id}")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def _execute(self, live: LiveAttempt) -> None:
        run, attempt = live.run, live.attempt
        try:
            self.events.publish("started", run)
            task = self.tasks.get(run.task)
            if task is None:  # claimed by name, so only if the registry changed under us
                outcome = Outcome(kind="start_failed", error={"message": f"unknown task {run.task!r}"})
            else:
                outcome = await self._run_executor(live, task)
            await self._report(live, task, outcome)
        except Exception:
            log.exception("attempt %s of run %s failed inside the worker", attempt.number, run.id)
        finally:
            self.live.pop(attempt.id, None)
            self._slot_freed.set()
            self.events.work_available.set()  # its queue slot may free another run

    async def _run_executor(self, live: LiveAttempt, task: TaskDef) -> Outcome:
        run = live.run
        logs = LogBuffer(
            self.store, run.id, live.attempt.number, self.settings.log_cap_bytes, on_flush=self.events.logs_written
        )
        timer = None
        if run.max_duration_s:
            timer = asyncio.get_running_loop().call_later(run.max_duration_s, live.stop_for, "timeout")

        async def set_metadata(metadata: dict[str, Any]) -> None:
            await self.store.update_run_info(run.id, metadata=metadata)

        async def record_items(total: int, results: list[ItemResult]) -> None:
            await self.store.record_eval_results(run.id, total, results)

        ctx = ExecutionContext(
            run=run, task=task, attempt_number=live.attempt.number, log=logs, stop=live.stop,
            set_metadata=set_metadata, record_items=record_items, find_spans=self.store.spans_in_window,
            base_env=self.base_env, worker_token=self.id,
            reaper=self.reaper, threads=self.threads,
        )  # fmt: skip
        try:
            return await executor_for(task).execute(ctx)
        except Exception as exc:
            from runyard.executors.python import error_of

            return Outcome(kind="failed", error=error_of(exc))
        finally:
            if timer is not None:
                timer.cancel()
            try:
                await logs.close()
            except Exception:
                log.exception("the log of run %s could not be stored", run.id)

    async def _report(self, live: LiveAttempt, task: TaskDef | None, outcome: Outcome) -> None:
        run, attempt = live.run, live.attempt
        if live.reason in ("canceled", "lost"):  # the store ended the run; its code has stopped now
            await self._persist(lambda: self.store.release_attempt(attempt.id))
            return
        if live.reason == "shutdown":
            return  # the run is retried through its lease
        if live.reason == "timeout":
            message = f"the run exceeded its maximum duration of {run.max_duration_s:g}s"
            params = FailParams(
                attempt_id=attempt.id, error={"message": message, "name": "MAX_DURATION_EXCEEDED"},
                attempt_status=AttemptStatus.TIMED_OUT, run_status=RunStatus.TIMED_OUT,
                end_reason=EndReason.TIMEOUT, exit_code=-1,
            )  # fmt: skip
            self._announce("timed_out", await self._persist(lambda: self.store.fail_attempt(params)))
            return
        if outcome.kind == "completed":
            done = CompleteParams(attempt_id=attempt.id, output=outcome.output, exit_code=outcome.exit_code)
            self._announce("completed", await self._persist(lambda: self.store.complete_attempt(done)))
            return
        start_failed = outcome.kind == "start_failed"
        error = outcome.error or {"message": f"the attempt ended: {outcome.kind}"}
        retry_at = None
        if outcome.retryable and not start_failed and attempt.number < run.max_attempts and task is not None:
            retry_at = now_us() + int(next_retry_delay(task.retry, attempt.number) * 1_000_000)
        failed = FailParams(
            attempt_id=attempt.id, error=error, exit_code=outcome.exit_code, retry_at=retry_at,
            end_reason=EndReason.START_FAILED if start_failed else EndReason.FAILED,
            retry_run_id=new_ulid() if retry_at is not None else None,
        )  # fmt: skip
        ended = await self._persist(lambda: self.store.fail_attempt(failed))
        if retry_at is not None:
            self._wake_at(retry_at)
        if ended is not None:
            for kind, changed in await outcome_events(self.store, failed, ended):
                self._announce(kind, changed)

    def _wake_at(self, at_us: int) -> None:
        """Claim again when a retry this worker scheduled falls due (the maintainer covers the rest)."""
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._wake_timers.discard(timer)
            self.events.work_available.set()

        timer = loop.call_later(max(0.0, (at_us - now_us()) / 1e6), fire)
        self._wake_timers.add(timer)

    def _announce(self, kind: str, run: Run | None) -> None:
        """Publish the run as the store wrote it (None: the attempt had lost the run, nothing to say)."""
        if run is not None:
            self.events.publish(kind, run)

    async def _persist(self, write: Callable[[], Awaitable[T]]) -> T | None:
        """A store write that must not be lost to a passing error: retried with backoff while the lease
        lasts. If it never lands, the lease expires and the maintainer retries the run."""
        delay = 0.1
        for _ in range(6):
            try:
                return await write()
            except Exception:
                log.exception("store write failed; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay *= 2
        return None


def describe(worker: Worker) -> dict[str, Any]:
    return {"id": worker.id, "concurrency": worker.concurrency, "running": len(worker.live)}
