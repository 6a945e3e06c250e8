"""Worker processes of a real server: runs execute in them, wake-ups and cancels reach them at once, a killed
one is replaced and its run retried, and an idle server writes nothing."""

from __future__ import annotations

import os
import signal
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tests.conftest import LiveServer

TASKS = """
[server]
lease = "30s"
worker_concurrency = 1

[tasks.pid]
python = "tests.worker.process_tasks:pid"

[tasks.sleepy]
run = "echo $$ > {pgid_file}; sleep 30"
graceful_stop = "0.2s"

[tasks.hello]
run = "echo hello"
"""


def when(stamp: object) -> datetime:
    return datetime.fromisoformat(str(stamp))


def start(live_server: Callable[..., LiveServer], tmp_path: Path, processes: int, **settings: object) -> LiveServer:
    srv = live_server(TASKS.format(pgid_file=tmp_path / "pgid"), processes=processes, **settings)
    srv.wait_for_workers(processes)
    return srv


def trigger(srv: LiveServer, task: str, payload: object = None, **options: object) -> str:
    with srv.client() as c:
        resp = c.post(f"/v1/tasks/{task}/trigger", json={"payload": payload, **options})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["run"]["id"])


def attempts(srv: LiveServer, run_id: str) -> list[dict[str, object]]:
    with srv.client() as c:
        found: list[dict[str, object]] = c.get(f"/v1/runs/{run_id}").json()["attempts"]
        return found


def test_runs_execute_in_every_worker_process(live_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    srv = start(live_server, tmp_path, 2)
    ids = [trigger(srv, "pid", 0.3) for _ in range(4)]  # one at a time per process: both must take some
    runs = [srv.wait_for(i, lambda r: r["status"] == "completed") for i in ids]
    pids = {r["output"] for r in runs}
    assert len(pids) == 2 and os.getpid() not in pids
    assert set(pids) == set(srv.runtime.pool.pids())  # type: ignore[union-attr]
    workers = {a["worker_id"] for i in ids for a in attempts(srv, i)}
    assert len(workers) == 2 and all(f":{p}:" in " ".join(map(str, workers)) for p in pids)


def test_a_trigger_wakes_an_idle_worker_process_without_polling(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    srv = start(live_server, tmp_path, 1)
    srv.wait_for(trigger(srv, "pid"), lambda r: r["status"] == "completed")  # the task's module is imported
    delays = []
    for _ in range(5):
        time.sleep(0.3)  # idle: the worker process waits for a wake-up
        run = srv.wait_for(trigger(srv, "pid"), lambda r: r["status"] == "completed")
        delays.append((when(run["started_at"]) - when(run["created_at"])).total_seconds())
    # The old claim loop polled every 0.5 s (a median of about 250 ms); a wake-up takes a round trip.
    assert statistics.median(delays) < 0.1, delays


def test_a_cancel_stops_a_shell_run_in_a_worker_process(live_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    srv = start(live_server, tmp_path, 1)
    run_id = trigger(srv, "sleepy")
    srv.wait_for(run_id, lambda r: r["status"] == "executing")
    deadline = time.monotonic() + 10
    while not (tmp_path / "pgid").exists() or not (tmp_path / "pgid").read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pgid = int((tmp_path / "pgid").read_text())
    with srv.client() as c:
        assert c.post(f"/v1/runs/{run_id}/cancel").status_code == 200
    canceled = time.monotonic()
    while True:  # the lease is 30 s: only the cancel notice can stop it this soon
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() - canceled < 5, "the shell run still runs after its cancel"
        time.sleep(0.02)
    assert srv.wait_for(run_id, lambda r: r["status"] == "canceled")


def test_a_killed_worker_process_is_replaced_and_its_run_retried(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    srv = start(live_server, tmp_path, 1)
    pool = srv.runtime.pool
    assert pool is not None
    [victim] = pool.pids()
    run_id = trigger(srv, "pid", 1.0, max_attempts=2)
    srv.wait_for(run_id, lambda r: r["status"] == "executing")
    os.kill(victim, signal.SIGKILL)
    # The lease is 30 s: the retry comes from releasing the dead process's attempt at once.
    run = srv.wait_for(run_id, lambda r: r["status"] == "completed", timeout=20)
    assert run["attempt_count"] == 2 and run["output"] != victim
    first, second = attempts(srv, run_id)
    assert first["status"] == "crashed" and second["status"] == "completed"
    assert pool.restarts == 1 and victim not in pool.pids() and run["output"] in pool.pids()


def test_an_idle_server_with_worker_processes_writes_nothing(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    srv = start(live_server, tmp_path, 2, lease_s=3.0)  # a short lease: maintenance passes come often
    srv.wait_for(trigger(srv, "pid"), lambda r: r["status"] == "completed")
    time.sleep(0.5)  # the last run's completion settles
    store = srv.runtime.store
    before = store.writes  # type: ignore[attr-defined]
    time.sleep(3)
    assert store.writes == before  # type: ignore[attr-defined]
    assert len(srv.runtime.hub.connections) == 2


def test_stored_log_lines_are_announced_to_live_readers(live_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    """Live log streams wake on a notice that lines were stored, from the server's own worker and from its
    worker processes alike (no polling while a run writes)."""
    for processes in (0, 1):
        srv = start(live_server, tmp_path, processes)
        seen: list[str] = []
        srv.runtime.service.events.on_logs(seen.append)
        run_id = trigger(srv, "hello")
        srv.wait_for(run_id, lambda r: r["status"] == "completed")
        assert run_id in seen, (processes, seen)
