"""A worker process's completions of one loop turn travel as one `complete_attempts` call (`RemoteStore`), and
each caller gets its own run back; the server's hub ends every attempt and announces every run, as it did one
call at a time."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import msgspec

from runyard.ipc import Channel, RemoteError, decode
from runyard.models import Run, RunStatus
from runyard.store.base import CompleteParams
from runyard.worker_store import RemoteStore
from tests.conftest import LiveServer


async def _remote(answer: Callable[[str, list[CompleteParams]], Any]) -> tuple[RemoteStore, list[Any], list[Channel]]:
    calls: list[tuple[str, list[str]]] = []

    async def on_call(op: str, raw: msgspec.Raw) -> Any:
        params = decode(raw, list[CompleteParams])
        calls.append((op, [p.attempt_id for p in params]))
        return answer(op, params)

    a, b = socket.socketpair()
    server = await Channel.over(a, on_call=on_call)
    client = await Channel.over(b)
    return RemoteStore(client), calls, [server, client]


async def test_one_turn_of_completions_is_one_call_and_each_gets_its_run() -> None:
    def answer(_op: str, params: list[CompleteParams]) -> list[Run | None]:
        done = RunStatus.COMPLETED
        return [None if p.attempt_id == "gone" else Run(id=f"run-{p.attempt_id}", task="t", queue="q", status=done)
                for p in params]  # fmt: skip

    remote, calls, channels = await _remote(answer)
    serving = [asyncio.create_task(c.serve()) for c in channels]
    try:
        ids = ["a1", "a2", "gone", "a4"]
        runs = await asyncio.gather(*(remote.complete_attempt(CompleteParams(attempt_id=i)) for i in ids))
        assert [None if r is None else r.id for r in runs] == ["run-a1", "run-a2", None, "run-a4"]
        assert calls == [("complete_attempts", ids)]
        later = await remote.complete_attempt(CompleteParams(attempt_id="a5"))  # a later turn: a call of its own
        assert later is not None and later.id == "run-a5" and calls[-1] == ("complete_attempts", ["a5"])
    finally:
        for c in channels:
            c.close()
        await asyncio.gather(*serving)


async def test_a_failed_call_fails_every_completion_it_carried() -> None:
    def answer(_op: str, _params: list[CompleteParams]) -> Any:
        raise RuntimeError("the store is closed")

    remote, calls, channels = await _remote(answer)
    serving = [asyncio.create_task(c.serve()) for c in channels]
    try:
        results = await asyncio.gather(
            *(remote.complete_attempt(CompleteParams(attempt_id=i)) for i in ("x", "y")), return_exceptions=True
        )
        assert [type(r) for r in results] == [RemoteError, RemoteError] and len(calls) == 1
    finally:
        for c in channels:
            c.close()
        await asyncio.gather(*serving)


TASKS = """
[server]
worker_concurrency = 8

[tasks.pid]
python = "tests.worker.process_tasks:pid"
"""


def test_worker_processes_complete_runs_in_batches_and_every_run_is_announced(
    live_server: Callable[..., LiveServer],
) -> None:
    srv = live_server(TASKS, processes=2)
    srv.wait_for_workers(2)
    completed: list[str] = []
    srv.runtime.events.subscribe(lambda kind, run: completed.append(run.id) if kind == "completed" else None)
    with srv.client() as c:
        ids = [c.post("/v1/tasks/pid/trigger", json={}).json()["run"]["id"] for _ in range(40)]
    for run_id in ids:
        run = srv.wait_for(run_id, lambda r: r["status"] == "completed")
        assert run["attempt_count"] == 1
    deadline = time.monotonic() + 10
    while sorted(completed) != sorted(ids):
        assert time.monotonic() < deadline, f"{len(completed)} of {len(ids)} completions announced"
        time.sleep(0.02)
    assert all(not conn.attempts for conn in srv.runtime.hub.connections)  # every attempt ended for the hub
