"""Python tasks end to end through a real worker and SQLite store: output capture, context, stopping sync code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runyard.events import EventBus
from runyard.models import Run, RunStatus, TaskDef
from runyard.service import Service, TriggerRequest
from runyard.settings import Settings
from runyard.store.sqlite import SqliteStore
from runyard.tasks import TaskRegistry
from runyard.worker import Worker
from tests.worker import python_tasks
from tests.worker.python_tasks import STATE

NAMES = ["chatty", "chatty_async", "failing", "noisy", "spin", "stubborn", "native_sleep", "after"]
SERIAL = {"native_sleep", "after"}  # share a queue of concurrency 1


class Env:
    def __init__(self, store: SqliteStore, service: Service, worker: Worker) -> None:
        self.store, self.service, self.worker = store, service, worker

    async def trigger(self, task: str, payload: bytes = b"null", **kw: object) -> Run:
        return (await self.service.trigger(TriggerRequest(task=task, payload=payload, **kw))).run  # type: ignore[arg-type]

    async def until(self, run_id: str, final: bool = True, timeout: float = 15) -> Run:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            run = await self.store.get_run(run_id)
            assert run is not None
            if run.is_final if final else run.status is RunStatus.EXECUTING:
                return run
            assert asyncio.get_running_loop().time() < deadline, f"run stuck in {run.status}"
            await asyncio.sleep(0.02)

    async def log(self, run_id: str) -> list[tuple[str, str]]:
        return [(ln.stream, ln.text) for ln in await self.store.read_logs(run_id, limit=10_000)]

    async def wait_state(self, key: str, timeout: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not STATE.get(key):
            assert asyncio.get_running_loop().time() < deadline, f"{key} never set"
            await asyncio.sleep(0.01)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = SqliteStore(tmp_path / "p.db")
    await store.open()
    tasks = {
        n: TaskDef(name=n, kind="python", config={"target": f"{python_tasks.__name__}:{n}"},
                   queue="serial" if n in SERIAL else None)
        for n in NAMES
    }  # fmt: skip
    await store.upsert_queue("serial", 1)
    settings = Settings(lease_s=5, poll_interval_s=0.05, worker_concurrency=4, log_cap_bytes=20_000)
    service = Service(store, TaskRegistry(tasks), EventBus())
    worker = Worker(store, service.tasks, service.events, settings)
    await worker.start()
    STATE.clear()
    yield Env(store, service, worker)
    await worker.stop(grace=0.1)
    await store.close()


async def test_print_logging_and_thread_output_go_to_the_run_log_in_order(
    env: Env, capfd: pytest.CaptureFixture[str]
) -> None:
    run = await env.until((await env.trigger("chatty")).id)
    assert run.status is RunStatus.COMPLETED, run.error
    assert await env.log(run.id) == [
        ("stdout", "out one"),
        ("stderr", "err one"),
        ("stdout", "partial line"),
        ("stderr", "WARNING tests.chatty: warned 7"),
        ("stderr", f"INFO runyard.run: context logger, run {run.id} attempt 1"),
        ("stdout", "from a thread"),
        ("stderr", "ERROR t: thread log"),
    ]
    assert run.metadata == {"progress": 0.5, "progressMessage": "half", "task": "chatty"}
    out, err = capfd.readouterr()
    assert "out one" not in out + err and "warned" not in out + err and "thread" not in out + err


async def test_async_task_output_and_metadata(env: Env) -> None:
    run = await env.until((await env.trigger("chatty_async", b'{"k":1}')).id)
    assert run.status is RunStatus.COMPLETED
    assert await env.log(run.id) == [("stdout", "async out"), ("stderr", "ERROR tests.chatty: async log")]
    assert run.metadata == {"seen": {"k": 1}}


async def test_a_failing_task_has_its_traceback_in_the_log_and_the_error(env: Env) -> None:
    run = await env.until((await env.trigger("failing")).id)
    assert run.status is RunStatus.FAILED and run.error is not None
    assert run.error["name"] == "KeyError" and "the-missing-key" in run.error["stackTrace"]
    texts = [text for _, text in await env.log(run.id)]
    assert texts[0] == "about to fail"
    assert texts[1] == "Traceback (most recent call last):"
    assert texts[-1] == "KeyError: 'the-missing-key'"
    assert not any("runyard/executors" in t for t in texts)  # the task's frames, not the executor's


async def test_the_log_cap_holds_across_attempts_and_says_so_once(env: Env) -> None:
    run = await env.until((await env.trigger("noisy", b"400")).id)  # ~40 kB against a 20 kB cap
    lines = await env.log(run.id)
    size = await env.store.log_size(run.id)
    assert size.truncated and size.bytes <= 20_000
    notices = [t for s, t in lines if s == "system" and "log truncated" in t]
    assert len(notices) == 1 and lines[-1][0] == "system"
    assert lines[0] == ("stdout", "line 00000 " + "x" * 90) and 150 < len(lines) < 200
    # a new attempt of the same run (a retry) adds nothing once the cap is reached
    await env.store.append_logs(run.id, 2, [("stdout", "more")], 20_000)
    assert len(await env.log(run.id)) == len(lines)


async def test_cancel_stops_a_sync_python_loop_and_the_slot_waits_for_it(env: Env) -> None:
    run = await env.trigger("spin")
    await env.until(run.id, final=False)
    await env.wait_state("spinning")
    await env.service.cancel(run.id)
    await env.worker.drain(timeout=10)  # the attempt ends only when the code has stopped...
    assert STATE["spin_stopped"] is True  # ...so by then the loop has ended
    assert not env.worker.live
    assert (await env.until(run.id)).status is RunStatus.CANCELED


async def test_max_duration_stops_a_loop_that_swallows_the_first_stop(env: Env) -> None:
    run = await env.trigger("stubborn", max_duration_s=0.5)
    final = await env.until(run.id)
    assert final.status is RunStatus.TIMED_OUT
    assert STATE["swallowed"] == 2 and STATE["stubborn_stopped"] is True
    assert env.worker.threads.threads <= env.worker.concurrency


async def test_code_blocked_in_a_c_call_keeps_its_queue_slot_and_says_so(env: Env) -> None:
    run = await env.trigger("native_sleep", b"2.5")
    await env.wait_state("native_started")
    queued = await env.trigger("after")  # same queue, concurrency 1
    await env.service.cancel(run.id)
    assert (await env.store.get_run(run.id)).status is RunStatus.CANCELED  # type: ignore[union-attr]
    after = await env.until(queued.id)
    assert after.status is RunStatus.COMPLETED and after.output == b"true"  # it started only once the sleep ended
    texts = [t for s, t in await env.log(run.id) if s == "system"]
    assert any(t.startswith("still running in native code, slot kept") for t in texts)


async def test_sync_runs_reuse_the_pool_threads(env: Env) -> None:
    for _ in range(3):
        ids = [(await env.trigger("chatty")).id for _ in range(6)]
        for run_id in ids:
            assert (await env.until(run_id)).status is RunStatus.COMPLETED
    assert 1 <= env.worker.threads.threads <= env.worker.concurrency
