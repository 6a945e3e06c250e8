"""The `runyard` command as a real subprocess against a real server process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runyard.ids import new_ulid
from runyard.models import RunStatus
from runyard.store.base import EnqueueParams
from runyard.store.sqlite import SqliteStore
from tests.conftest import free_port, wait_healthy

pytestmark = pytest.mark.slow
API_KEY = "ry_cli_test_key_0123456789abcdef"
RUNYARD = str(Path(sys.executable).parent / "runyard")
CONFIG = """
[server]
poll_interval = "0.05s"

[tasks.add]
python = "tests.worker.tasks_for_tests:add"

[tasks.talk]
run = "echo first; echo second >&2"

[tasks.sleepy]
run = "sleep 30"
graceful_stop = "0.2s"
"""


class Cli:
    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp
        self.env = {**os.environ, "RUNYARD_URL": url, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp / "data")}

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([RUNYARD, *args], capture_output=True, text=True, env=env or self.env, timeout=60)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    port = free_port()
    (tmp_path / "runyard.toml").write_text(CONFIG)
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [RUNYARD, "server", "--config", str(tmp_path / "runyard.toml"), "--listen", f"127.0.0.1:{port}",
         "--database", db],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    runner = Cli(url, tmp_path)
    runner.env["RUNYARD_DB"] = db
    yield runner
    proc.terminate()
    proc.wait(20)


def test_trigger_wait_show_list_and_logs(cli: Cli) -> None:
    done = cli("trigger", "add", "--payload", '{"a": 4, "b": 5}', "--wait")
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stdout and "output: 9" in done.stdout
    run_id = done.stdout.split()[0]
    shown = cli("runs", "show", run_id)
    assert shown.returncode == 0 and "attempt 1: completed" in shown.stdout
    talk = cli("trigger", "talk", "--wait")
    talk_id = talk.stdout.split()[0]
    assert "log (last 2 of 2 lines):" in talk.stdout and "  first" in talk.stdout  # the log's tail
    assert "  second" in talk.stderr
    logs = cli("logs", talk_id, "--follow")
    assert logs.stdout.splitlines() == ["first", "[stderr] second"]
    fresh = cli("trigger", "talk").stdout.split()[0]  # not waited for: `runs watch` follows it to its end
    watched = cli("runs", "watch", fresh)
    assert watched.returncode == 0 and watched.stdout.splitlines()[-1] == f"{fresh} completed", watched.stdout
    listing = cli("runs", "list", "--task", "add", env={**cli.env, "COLUMNS": "80"})  # a common terminal
    assert listing.returncode == 0 and "completed" in listing.stdout
    assert run_id in listing.stdout  # the whole id, never cut
    tasks = cli("tasks")
    assert all(name in tasks.stdout for name in ("add", "talk", "sleepy"))


def test_cancel_and_replay(cli: Cli) -> None:
    started = cli("trigger", "sleepy")
    run_id = started.stdout.split()[0]
    canceled = cli("runs", "cancel", run_id)
    assert canceled.returncode == 0 and "canceled" in canceled.stdout
    replay = cli("runs", "replay", run_id)
    assert replay.returncode == 0 and f"replay of {run_id}" in replay.stdout
    cli("runs", "cancel", replay.stdout.split()[0])


def test_errors_are_clear_with_non_zero_exit(cli: Cli, tmp_path: Path) -> None:
    missing = cli("runs", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert missing.returncode == 1 and "run not found" in missing.stderr and "Traceback" not in missing.stderr
    bad_payload = cli("trigger", "add", "--payload", "{nope")
    assert bad_payload.returncode == 2 and "not valid JSON" in bad_payload.stderr
    unknown = cli("trigger", "nope")
    assert unknown.returncode == 1 and "not found" in unknown.stderr
    refused = cli("tasks", env={**cli.env, "RUNYARD_API_KEY": "ry_wrong"})
    assert refused.returncode == 1 and "API key was refused" in refused.stderr
    down = cli("tasks", env={**cli.env, "RUNYARD_URL": f"http://127.0.0.1:{free_port()}"})
    assert down.returncode == 1 and "cannot reach runyard" in down.stderr
    (tmp_path / "bad.toml").write_text("[tasks.x]\nrun = 1\npython = 2\n")
    bad_config = cli("server", "--config", str(tmp_path / "bad.toml"))
    assert bad_config.returncode == 2 and "exactly one of" in bad_config.stderr


def test_keys_create_list_revoke(cli: Cli) -> None:
    db = cli.env["RUNYARD_DB"]
    created = cli("keys", "--database", db, "create", "deploy")
    assert created.returncode == 0, created.stderr
    raw = created.stdout.strip().splitlines()[-1]
    key_id = created.stdout.split()[2]
    assert raw.startswith("ry_")
    assert httpx.get(cli.url + "/v1/tasks", headers={"x-api-key": raw}).status_code == 200
    listing = cli("keys", "--database", db, "list")
    assert "deploy" in listing.stdout and raw not in listing.stdout
    assert cli("keys", "--database", db, "revoke", key_id).returncode == 0
    again = cli("keys", "--database", db, "revoke", key_id)
    assert again.returncode == 1 and "no active key" in again.stderr
    time.sleep(5.2)  # the server remembers a verified key for a few seconds
    assert httpx.get(cli.url + "/v1/tasks", headers={"x-api-key": raw}).status_code == 401


def test_a_separate_worker_process_runs_what_an_api_only_server_accepts(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "runyard.toml").write_text(CONFIG)
    db = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp_path / "data")}
    root = Path(__file__).parents[2]
    config = str(tmp_path / "runyard.toml")
    api = subprocess.Popen(
        [RUNYARD, "server", "--config", config, "--listen", f"127.0.0.1:{port}", "--database", db, "--no-worker"],
        env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, api)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        run = httpx.post(url + "/v1/tasks/add/trigger", json={"payload": {"a": 1, "b": 2}}, headers=headers).json()[
            "run"
        ]
        time.sleep(0.5)
        assert httpx.get(url + f"/v1/runs/{run['id']}", headers=headers).json()["status"] == "queued"
        worker = subprocess.Popen(
            [RUNYARD, "worker", "--config", config, "--database", db], env=env, cwd=root,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while (got := httpx.get(url + f"/v1/runs/{run['id']}", headers=headers).json())["status"] != "completed":
            assert time.monotonic() < deadline, got["status"]
            time.sleep(0.1)
        assert got["output"] == 3
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    finally:
        for proc in (api, worker):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def test_sigterm_stops_a_worker_even_while_a_sync_task_runs(tmp_path: Path) -> None:
    config = tmp_path / "runyard.toml"
    config.write_text('[server]\nlease = "3s"\npoll_interval = "0.05s"\n\n'
                      '[tasks.sleepsync]\npython = "tests.worker.tasks_for_tests:sleep_sync"\n')  # fmt: skip
    env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp_path / "data")}
    worker = subprocess.Popen(
        [RUNYARD, "worker", "--config", str(config), "--database", f"sqlite:///{tmp_path / 'w.sqlite'}"],
        env=env, cwd=Path(__file__).parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    async def trigger_and_wait_started() -> None:
        store = SqliteStore(tmp_path / "w.sqlite")
        await store.open()
        try:
            params = EnqueueParams(id=new_ulid(), task="sleepsync", queue="task/sleepsync", payload=b"60")
            run = (await store.enqueue(params)).run
            deadline = time.monotonic() + 20
            while (current := await store.get_run(run.id)) is None or current.status is not RunStatus.EXECUTING:
                assert time.monotonic() < deadline, "the worker never started the run"
                await asyncio.sleep(0.05)
        finally:
            await store.close()

    try:
        asyncio.run(trigger_and_wait_started())
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
        assert time.monotonic() - started < 15, "the worker waited for a 60 s task instead of stopping"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
