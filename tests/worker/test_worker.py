from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from runyard.events import EventBus
from runyard.models import AttemptStatus, EndReason, RetryPolicy, Run, RunStatus, TaskDef
from runyard.service import Service, TriggerRequest
from runyard.settings import Settings
from runyard.store.sqlite import SqliteStore
from runyard.tasks import TaskRegistry
from runyard.worker import Worker

T = "tests.worker.tasks_for_tests"
FAST = RetryPolicy(max_attempts=3, min_delay=0.01, max_delay=0.02, randomize=False)


def tasks(tmp: Path) -> dict[str, TaskDef]:
    return {
        "add": TaskDef(name="add", kind="python", config={"target": f"{T}:add"}),
        "echo": TaskDef(name="echo", kind="python", config={"target": f"{T}:echo"}),
        "no-args": TaskDef(name="no-args", kind="python", config={"target": f"{T}:no_args"}),
        "boom": TaskDef(name="boom", kind="python", config={"target": f"{T}:boom"}, retry=FAST),
        "unserializable": TaskDef(name="unserializable", kind="python", config={"target": f"{T}:unserializable"}),
        "forever": TaskDef(name="forever", kind="python", config={"target": f"{T}:forever"}),
        "missing": TaskDef(name="missing", kind="python", config={"target": f"{T}:nope"}),
        "hello": TaskDef(name="hello", kind="shell", config={"command": 'echo "hi $RUNYARD_PAYLOAD"; echo err >&2'}),
        "exit3": TaskDef(name="exit3", kind="shell", config={"command": "exit 3"}, retry=FAST),
        "sleepy": TaskDef(name="sleepy", kind="shell", config={"command": "sleep 30"}, graceful_stop=0.2),
        "trap": TaskDef(
            name="trap",
            kind="shell",
            graceful_stop=0.3,
            config={
                "command": f"setsid sleep 300 & echo $! > {tmp / 'escaped'}; echo $$ > {tmp / 'group'}; "
                f"trap 'echo term > {tmp / 'term'}' TERM; while true; do sleep 0.05; done"
            },
        ),
        "count": TaskDef(name="count", kind="shell", config={"command": f"echo x >> {tmp / 'count.txt'}; sleep 0.05"}),
    }


class Harness:
    def __init__(self, store: SqliteStore, service: Service, settings: Settings) -> None:
        self.store, self.service, self.settings = store, service, settings
        self.workers: list[Worker] = []

    async def worker(self, **kw: object) -> Worker:
        w = Worker(self.store, self.service.tasks, self.service.events, self.settings, **kw)  # type: ignore[arg-type]
        await w.start()
        self.workers.append(w)
        return w

    async def trigger(self, task: str, payload: bytes = b"null", **kw: object) -> Run:
        return (await self.service.trigger(TriggerRequest(task=task, payload=payload, **kw))).run  # type: ignore[arg-type]

    async def until(self, run_id: str, done: Callable[[Run], bool] = lambda r: r.is_final, timeout: float = 10) -> Run:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            run = await self.store.get_run(run_id)
            assert run is not None
            if done(run):
                return run
            assert asyncio.get_running_loop().time() < deadline, f"run stuck in {run.status}"
            await asyncio.sleep(0.02)


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    store = SqliteStore(tmp_path / "w.db")
    await store.open()
    settings = Settings(lease_s=0.6, poll_interval_s=0.05, worker_concurrency=8)
    harness = Harness(store, Service(store, TaskRegistry(tasks(tmp_path)), EventBus()), settings)
    yield harness
    for w in harness.workers:
        await w.stop(grace=0.1)
    await store.close()


async def test_python_sync_function_output(h: Harness) -> None:
    await h.worker()
    run = await h.until((await h.trigger("add", b'{"a":2,"b":3}')).id)
    assert run.status is RunStatus.COMPLETED and run.output == b"5"


async def test_python_async_function_and_no_argument_function(h: Harness) -> None:
    await h.worker()
    echo = await h.until((await h.trigger("echo", b"[1]")).id)
    assert echo.output == b'{"echo":[1]}'
    no_args = await h.until((await h.trigger("no-args")).id)
    assert no_args.output == b'"ok"'


async def test_python_exception_is_retried_then_fails_with_traceback(h: Harness) -> None:
    await h.worker()
    run = await h.until((await h.trigger("boom")).id)
    assert run.status is RunStatus.FAILED and run.attempt_count == 3
    assert run.error is not None and run.error["name"] == "ValueError" and "boom" in run.error["message"]
    assert "Traceback" in run.error["stackTrace"]
    attempts = await h.store.list_attempts(run.id)
    assert [a.status for a in attempts] == [AttemptStatus.FAILED] * 3


async def test_unserializable_output_and_missing_function_fail_without_retry(h: Harness) -> None:
    await h.worker()
    bad = await h.until((await h.trigger("unserializable")).id)
    assert bad.status is RunStatus.FAILED and "JSON" in bad.error["message"]  # type: ignore[index]
    missing = await h.until((await h.trigger("missing", max_attempts=3)).id)
    assert missing.status is RunStatus.FAILED and missing.end_reason is EndReason.START_FAILED
    assert missing.attempt_count == 1


async def test_shell_output_is_logged_in_order_with_streams(h: Harness) -> None:
    await h.worker()
    run = await h.until((await h.trigger("hello", b'{"n":1}')).id)
    assert run.status is RunStatus.COMPLETED and run.exit_code == 0
    lines = [(ln.stream, ln.text) for ln in await h.store.read_logs(run.id)]
    assert ("stdout", 'hi {"n":1}') in lines and ("stderr", "err") in lines


async def test_shell_exit_code_fails_after_retries(h: Harness) -> None:
    await h.worker()
    run = await h.until((await h.trigger("exit3")).id)
    assert run.status is RunStatus.FAILED and run.exit_code == 3 and run.attempt_count == 3


async def test_max_duration_times_out_a_run(h: Harness) -> None:
    await h.worker()
    run = await h.until((await h.trigger("sleepy", max_duration_s=0.2, max_attempts=3)).id)
    assert run.status is RunStatus.TIMED_OUT and run.end_reason is EndReason.TIMEOUT
    assert run.attempt_count == 1 and run.exit_code == -1


async def test_cancel_stops_an_executing_shell_run(h: Harness) -> None:
    await h.worker()
    run = await h.trigger("sleepy")
    await h.until(run.id, lambda r: r.status is RunStatus.EXECUTING)
    await h.service.cancel(run.id)
    w = h.workers[0]
    await asyncio.wait_for(w.drain(), 5)
    assert not w.live
    assert (await h.store.get_run(run.id)).status is RunStatus.CANCELED  # type: ignore[union-attr]


def _pids_when_written(tmp: Path, timeout: float = 15) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        texts = [(tmp / n).read_text().strip() if (tmp / n).exists() else "" for n in ("group", "escaped")]
        if all(texts):
            return int(texts[0]), int(texts[1])
        assert time.monotonic() < deadline, "the shell task did not start"
        time.sleep(0.02)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


async def test_shutdown_terms_then_kills_the_group_and_its_escaped_descendants(h: Harness, tmp_path: Path) -> None:
    w = await h.worker()
    run = await h.trigger("trap")
    group, escaped = await asyncio.to_thread(_pids_when_written, tmp_path)
    await w.stop(grace=0)
    h.workers.remove(w)
    assert (tmp_path / "term").read_text().strip() == "term"  # SIGTERM first, then SIGKILL: it ignored it
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
    assert not _running(escaped)  # left the group (setsid), found by its run id and worker token
    assert (await h.store.get_run(run.id)).status is RunStatus.EXECUTING  # type: ignore[union-attr]  # lease path


async def test_a_run_canceled_elsewhere_is_stopped_through_the_heartbeat(h: Harness) -> None:
    w = await h.worker()
    run = await h.trigger("forever")
    await h.until(run.id, lambda r: r.status is RunStatus.EXECUTING)
    await h.store.cancel(run.id)  # straight to the store: no in-process event reaches the worker
    await asyncio.wait_for(w.drain(), 5)
    assert not w.live


async def test_two_workers_never_run_one_run_twice(h: Harness, tmp_path: Path) -> None:
    await h.worker(worker_id="a", concurrency=4)
    await h.worker(worker_id="b", concurrency=4)
    runs = [await h.trigger("count") for _ in range(30)]
    for run in runs:
        assert (await h.until(run.id)).status is RunStatus.COMPLETED
    assert len((tmp_path / "count.txt").read_text().splitlines()) == 30
    workers = {a.worker_id for r in runs for a in await h.store.list_attempts(r.id)}
    assert workers == {"a", "b"}


async def test_a_stalled_worker_loses_its_run_to_lease_expiry(h: Harness) -> None:
    from runyard.store.base import ClaimParams

    run = await h.trigger("add", b'{"a":1,"b":1}', max_attempts=2)
    [claimed] = await h.store.claim_batch(ClaimParams(worker_id="dead", limit=1, lease_s=0.05))
    await asyncio.sleep(0.1)
    await h.store.maintain()
    await h.worker()
    done = await h.until(run.id)
    assert done.status is RunStatus.COMPLETED and done.attempt_count == 2
    assert [a.status for a in await h.store.list_attempts(run.id)] == [AttemptStatus.CRASHED, AttemptStatus.COMPLETED]
    assert claimed.attempt.number == 1
