"""A `runyard worker` in its own process: next to a server it learns of new runs and cancels over the server's
socket (the lease and the poll interval are far longer than the checks allow, so only a notice can do it);
alone on a database it notices runs another process committed through `PRAGMA data_version`, and while idle it
commits nothing."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from runyard.ids import new_ulid
from runyard.models import RunStatus
from runyard.store.base import EnqueueParams
from runyard.store.sqlite import SqliteStore
from tests.conftest import API_KEY, free_port, wait_healthy

ROOT = Path(__file__).parents[2]
RUNYARD = str(Path(sys.executable).parent / "runyard")
CONFIG = """
[server]
lease = "60s"
poll_interval = "{poll}"

[tasks.quick]
python = "tests.worker.process_tasks:pid"

[tasks.sleepy]
run = "echo $$ > {pgid}; sleep 60"
graceful_stop = "0.2s"
"""


@contextmanager
def proc(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    p = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _setup(tmp_path: Path, poll: str) -> tuple[str, str, dict[str, str]]:
    config = tmp_path / "runyard.toml"
    config.write_text(CONFIG.format(poll=poll, pgid=tmp_path / "pgid"))
    env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp_path / "data")}
    return str(config), f"sqlite:///{tmp_path / 'shared.sqlite'}", env


def _wait(check: object, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)
    return time.monotonic()


def test_a_separate_worker_gets_new_runs_and_cancels_over_the_servers_socket(tmp_path: Path) -> None:
    config, db, env = _setup(tmp_path, "10s")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = [RUNYARD, "server", "--config", config, "--listen", f"127.0.0.1:{port}", "--database", db, "--no-worker"]
    with proc(server, env) as api:
        wait_healthy(url, api)
        with (
            proc([RUNYARD, "worker", "--config", config, "--database", db], env),
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10) as c,
        ):

            def status(run_id: str) -> str:
                return str(c.get(f"/v1/runs/{run_id}").json()["status"])

            first = c.post("/v1/tasks/quick/trigger", json={"payload": 0}).json()["run"]["id"]
            _wait(lambda: status(first) == "completed", 30, "the worker never ran the first run")
            time.sleep(1.0)  # idle: the worker waits; its store poll is 10 s away
            for _ in range(3):
                run_id = c.post("/v1/tasks/quick/trigger", json={"payload": 0}).json()["run"]["id"]
                sent = time.monotonic()
                done = _wait(lambda rid=run_id: status(rid) == "completed", 30, "a new run was not picked up")
                assert done - sent < 5, "a new run waited for the poll: the wake-up notice did not arrive"

            sleepy = c.post("/v1/tasks/sleepy/trigger", json={}).json()["run"]["id"]
            pgid_file = tmp_path / "pgid"
            _wait(lambda: pgid_file.exists() and pgid_file.read_text().strip(), 30, "the shell run did not start")
            pgid = int(pgid_file.read_text())
            assert c.post(f"/v1/runs/{sleepy}/cancel").status_code == 200
            canceled = time.monotonic()

            def gone() -> bool:
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    return True
                return False

            stopped = _wait(gone, 30, "the canceled shell run never stopped")
            # the lease is 60 s (heartbeats every 20 s) and the poll 10 s: only the cancel notice stops it this soon
            assert stopped - canceled < 5, "the cancel reached the worker only through polling"
            assert status(sleepy) == "canceled"


def test_a_worker_without_a_server_notices_commits_and_writes_nothing_while_idle(tmp_path: Path) -> None:
    config, db, env = _setup(tmp_path, "0.2s")
    path = tmp_path / "shared.sqlite"

    async def enqueue() -> str:
        store = SqliteStore(path)
        await store.open()
        try:
            params = EnqueueParams(id=new_ulid(), task="quick", queue="task/quick", payload=b"0")
            return (await store.enqueue(params)).run.id
        finally:
            await store.close()

    async def status(run_id: str) -> RunStatus | None:
        store = SqliteStore(path)
        await store.open()
        try:
            run = await store.get_run(run_id)
            return None if run is None else run.status
        finally:
            await store.close()

    asyncio.run(enqueue())  # the database exists before the worker opens it
    with proc([RUNYARD, "worker", "--config", config, "--database", db], env) as worker:
        run_id = asyncio.run(enqueue())
        _wait(lambda: asyncio.run(status(run_id)) is RunStatus.COMPLETED, 30, "the worker did not notice the run")
        time.sleep(1.0)  # the run's completion settles
        watch = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        try:
            before = watch.execute("PRAGMA data_version").fetchone()[0]
            time.sleep(3.0)  # fifteen poll intervals
            after = watch.execute("PRAGMA data_version").fetchone()[0]
        finally:
            watch.close()
        assert before == after, "the idle worker committed to the database"
        assert worker.poll() is None
        later = asyncio.run(enqueue())
        _wait(lambda: asyncio.run(status(later)) is RunStatus.COMPLETED, 30, "the worker stopped noticing runs")
