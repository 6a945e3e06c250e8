"""The store operations a worker uses, and a store that forwards them to the process that owns the store.

A `Worker` needs only these few named operations (`WorkerStore`). In the server's worker processes they
are a `RemoteStore`: each call travels over an `ipc.Channel` to the server, which runs it on its real
store (`serve_worker_op`). With SQLite that keeps one writer for the whole machine: requests from all
worker processes share the server's group commits. On PostgreSQL a worker on another machine would use
the real store directly; this seam is where that plugs in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec

from runyard.evals.spec import ItemResult, Span
from runyard.futures import settle
from runyard.ipc import Channel, decode
from runyard.models import Claimed, Run, RunStatus, TaskDef
from runyard.settings import Settings
from runyard.store.base import ClaimParams, CompleteParams, FailParams, LogSize


class WorkerStore(Protocol):
    async def claim_batch(self, params: ClaimParams) -> list[Claimed]: ...

    async def heartbeat(self, worker_id: str, attempt_ids: list[str], lease_s: float) -> list[str]: ...

    async def complete_attempt(self, params: CompleteParams) -> Run | None: ...

    async def fail_attempt(self, params: FailParams) -> Run | None: ...

    async def append_logs(
        self, run_id: str, attempt: int, lines: list[tuple[str, str]], cap_bytes: int | None = None
    ) -> LogSize: ...

    async def release_attempt(self, attempt_id: str) -> bool: ...

    async def get_run(self, run_id: str) -> Run | None: ...

    async def update_run_info(
        self, run_id: str, *, tags: list[str] | None = None, metadata: dict[str, Any] | None = None
    ) -> Run: ...

    async def record_eval_results(self, run_id: str, total: int, results: list[ItemResult]) -> None: ...

    async def spans_in_window(self, project: str, start_us: int, end_us: int, limit: int) -> list[Span]: ...


def outcome_event(run: Run) -> str:
    """The event of an attempt's end, by the run's status after it (as the worker names it in-process)."""
    if run.status is RunStatus.QUEUED:
        return "retrying"
    if run.status is RunStatus.TIMED_OUT:
        return "timed_out"
    return run.status.value  # completed, failed


async def outcome_events(store: WorkerStore, failed: FailParams, ended: Run) -> list[tuple[str, Run]]:
    """The events of a failed attempt: the run's own, and `created` for the run that retries it when its task
    retries as new runs (the store made it, with the id `failed` named, in the same transaction)."""
    events = [(outcome_event(ended), ended)]
    if failed.retry_at is not None and failed.retry_run_id and ended.retry_as_new_run and ended.is_final:
        retry = await store.get_run(failed.retry_run_id)
        if retry is not None:
            events.append(("created", retry))
    return events


class HeartbeatArgs(msgspec.Struct, array_like=True):
    worker_id: str
    attempt_ids: list[str]
    lease_s: float


class LogArgs(msgspec.Struct, array_like=True):
    run_id: str
    attempt: int
    lines: list[tuple[str, str]]
    cap_bytes: int | None = None


class RunInfoArgs(msgspec.Struct, array_like=True):
    run_id: str
    tags: list[str] | None
    metadata: dict[str, Any] | None


class EvalResultsArgs(msgspec.Struct, array_like=True):
    run_id: str
    total: int
    results: list[ItemResult]


class SpanArgs(msgspec.Struct, array_like=True):
    project: str
    start_us: int
    end_us: int
    limit: int


class Hello(msgspec.Struct, kw_only=True):
    """A worker process introduces itself."""

    worker_id: str
    pid: int


class Welcome(msgspec.Struct, kw_only=True):
    """What a worker process needs to know, from the server: its settings, the tasks, the import path."""

    settings: Settings
    tasks: list[TaskDef]
    sys_path: list[str]


def _dec_hook(type_: type, value: Any) -> Any:
    from pathlib import Path

    if type_ is Path:
        return Path(value)
    raise NotImplementedError


def _enc_hook(value: Any) -> Any:
    from pathlib import Path

    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError


def encode_welcome(welcome: Welcome) -> Any:
    return msgspec.to_builtins(welcome, enc_hook=_enc_hook)


def decode_welcome(raw: msgspec.Raw) -> Welcome:
    return msgspec.convert(decode(raw, dict), Welcome, dec_hook=_dec_hook)


class RemoteStore:
    """A `WorkerStore` whose operations run in the server process."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._completions: list[tuple[CompleteParams, asyncio.Future[Run | None]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def claim_batch(self, params: ClaimParams) -> list[Claimed]:
        if params.limit <= 0:
            return []
        return decode(await self.channel.call("claim_batch", params), list[Claimed])

    async def heartbeat(self, worker_id: str, attempt_ids: list[str], lease_s: float) -> list[str]:
        if not attempt_ids:
            return []
        raw = await self.channel.call("heartbeat", HeartbeatArgs(worker_id, attempt_ids, lease_s))
        return decode(raw, list[str])

    async def complete_attempt(self, params: CompleteParams) -> Run | None:
        """Completions of one loop turn travel as one call (`complete_attempts`), answered with a run (or None)
        for each: a no-op task's completions cost the server one call and one reply per turn, not one per run."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Run | None] = loop.create_future()
        if not self._completions:
            loop.call_soon(self._send_completions)
        self._completions.append((params, done))
        return await done

    def _send_completions(self) -> None:
        batch, self._completions = self._completions, []
        task = asyncio.ensure_future(self._complete_all(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _complete_all(self, batch: list[tuple[CompleteParams, asyncio.Future[Run | None]]]) -> None:
        try:
            raw = await self.channel.call("complete_attempts", [params for params, _ in batch])
            runs = decode(raw, list[Run | None])
        except Exception as exc:  # each caller's own retry (Worker._persist) sends its completion again
            results: list[tuple[bool, Any]] = [(False, exc)] * len(batch)
        else:
            results = [(True, run) for run in runs]
        settle((done, ok, value) for (_params, done), (ok, value) in zip(batch, results, strict=True))

    async def fail_attempt(self, params: FailParams) -> Run | None:
        return decode(await self.channel.call("fail_attempt", params), Run | None)  # type: ignore[arg-type]

    async def append_logs(
        self, run_id: str, attempt: int, lines: list[tuple[str, str]], cap_bytes: int | None = None
    ) -> LogSize:
        return decode(await self.channel.call("append_logs", LogArgs(run_id, attempt, lines, cap_bytes)), LogSize)

    async def release_attempt(self, attempt_id: str) -> bool:
        return decode(await self.channel.call("release_attempt", attempt_id), bool)

    async def get_run(self, run_id: str) -> Run | None:
        return decode(await self.channel.call("get_run", run_id), Run | None)  # type: ignore[arg-type]

    async def update_run_info(
        self, run_id: str, *, tags: list[str] | None = None, metadata: dict[str, Any] | None = None
    ) -> Run:
        return decode(await self.channel.call("update_run_info", RunInfoArgs(run_id, tags, metadata)), Run)

    async def record_eval_results(self, run_id: str, total: int, results: list[ItemResult]) -> None:
        await self.channel.call("record_eval_results", EvalResultsArgs(run_id, total, results))

    async def spans_in_window(self, project: str, start_us: int, end_us: int, limit: int) -> list[Span]:
        raw = await self.channel.call("spans_in_window", SpanArgs(project, start_us, end_us, limit))
        return decode(raw, list[Span])


Op = Callable[[WorkerStore, msgspec.Raw], Awaitable[Any]]


async def _claim(store: WorkerStore, raw: msgspec.Raw) -> Any:
    return await store.claim_batch(decode(raw, ClaimParams))


async def _heartbeat(store: WorkerStore, raw: msgspec.Raw) -> Any:
    args = decode(raw, HeartbeatArgs)
    return await store.heartbeat(args.worker_id, args.attempt_ids, args.lease_s)


async def _complete(store: WorkerStore, raw: msgspec.Raw) -> Any:
    return list(await asyncio.gather(*(store.complete_attempt(p) for p in decode(raw, list[CompleteParams]))))


async def _fail(store: WorkerStore, raw: msgspec.Raw) -> Any:
    return await store.fail_attempt(decode(raw, FailParams))


async def _logs(store: WorkerStore, raw: msgspec.Raw) -> Any:
    args = decode(raw, LogArgs)
    return await store.append_logs(args.run_id, args.attempt, args.lines, args.cap_bytes)


async def _release(store: WorkerStore, raw: msgspec.Raw) -> Any:
    return await store.release_attempt(decode(raw, str))


async def _get_run(store: WorkerStore, raw: msgspec.Raw) -> Any:
    return await store.get_run(decode(raw, str))


async def _run_info(store: WorkerStore, raw: msgspec.Raw) -> Any:
    args = decode(raw, RunInfoArgs)
    return await store.update_run_info(args.run_id, tags=args.tags, metadata=args.metadata)


async def _eval_results(store: WorkerStore, raw: msgspec.Raw) -> Any:
    args = decode(raw, EvalResultsArgs)
    await store.record_eval_results(args.run_id, args.total, args.results)


async def _spans(store: WorkerStore, raw: msgspec.Raw) -> Any:
    args = decode(raw, SpanArgs)
    return await store.spans_in_window(args.project, args.start_us, args.end_us, args.limit)


WORKER_OPS: dict[str, Op] = {
    "claim_batch": _claim,
    "heartbeat": _heartbeat,
    "complete_attempts": _complete,
    "fail_attempt": _fail,
    "append_logs": _logs,
    "release_attempt": _release,
    "get_run": _get_run,
    "update_run_info": _run_info,
    "record_eval_results": _eval_results,
    "spans_in_window": _spans,
}
