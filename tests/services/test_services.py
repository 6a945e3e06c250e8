"""Services and startup tasks with a real server process: replicas kept running, restarted with a capped
backoff, refused as triggers (409), stopped with daemon_stopped on SIGTERM; startup tasks once per start."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from runyard.settings import ConfigError, load_settings
from tests.conftest import free_port, wait_healthy

pytestmark = pytest.mark.slow
API_KEY = "ry_service_key_0123456789abcdefghi"
MARK = "4242.5"  # the replicas sleep this long: their processes can be found by it
CONFIG = f"""
[server]
lease = "2s"

[services.web]
run = "sleep {MARK}"
instances = 2
graceful_stop = "1s"

[services.flaky]
run = "exit 1"
restart = {{ min = "0.2s", max = "0.8s" }}

[tasks.boot]
run = "echo booted"
run_on_start = true
"""


def start(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    (tmp / "runyard.toml").write_text(CONFIG)
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "runyard"), "server", "--config", str(tmp / "runyard.toml"),
         "--listen", f"127.0.0.1:{port}", "--database", f"sqlite:///{tmp / 'runyard.db'}"],
        env={**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp / "data")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def until(what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def replica_processes() -> int:
    count = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.split(b"\0")[:2] == [b"sleep", MARK.encode()]:
                count += 1
    return count


def test_services_and_startup_tasks(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)

    def runs(task: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = client.get("/api/runs", params={"taskName": task, "limit": 1000}).json()["items"]
        return [r for r in items if r["task_name"] == task]

    proc = start(tmp_path, port)
    try:
        web = until("two running web replicas", lambda: [r for r in runs("web") if r["status"] == "running"][1:] and
                    [r for r in runs("web") if r["status"] == "running"])  # fmt: skip
        assert sorted(r["triggered_by"] for r in web) == ["service", "service"]
        assert sorted(r["replica_index"] for r in web) == [0, 1]
        assert until("both replica processes", lambda: replica_processes() == 2)

        refused = client.post("/api/tasks/web/run")
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["detail"] == "services cannot be triggered; use the restart endpoint"

        boot = until("the startup run", lambda: [r for r in runs("boot") if r["status"] == "ended"])
        assert [(r["triggered_by"], r["end_reason"]) for r in boot] == [("startup", "success")]

        # flaky exits at once: restarted again and again, each time a little later, up to the cap.
        flaky = until("five flaky restarts", lambda: len(runs("flaky")) >= 5 and runs("flaky"), timeout=30)
        assert all(r["triggered_by"] == "service" and r["end_reason"] in (None, "failed") for r in flaky
                   if r["status"] == "ended")  # fmt: skip
        started = sorted(db_times(tmp_path, "flaky"))
        gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(started)]
        # Each restart waits at least its backoff, 0.2 s doubling to the 0.8 s cap (plus the run's own time).
        for gap, least in zip(gaps, (0.2, 0.4, 0.8, 0.8), strict=False):
            assert gap >= least * 0.9, f"the restarts should back off 0.2, 0.4, 0.8, 0.8 s: {gaps}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    db = sqlite3.connect(tmp_path / "runyard.db")
    ended = db.execute("SELECT replica_index, status, end_reason FROM runs WHERE task = 'web' ORDER BY 1").fetchall()
    assert ended == [(0, "canceled", "daemon_stopped"), (1, "canceled", "daemon_stopped")]
    assert db.execute(
        "SELECT COUNT(*) FROM runs WHERE triggered_by = 'service' AND status IN ('queued', 'executing')"
    ).fetchone() == (0,)
    assert until("the replica processes to exit", lambda: replica_processes() == 0, timeout=10)

    assert until("the port to be free again", lambda: port_free(port), timeout=15)  # its processes have all exited
    proc = start(tmp_path, port)  # a second start: replicas again, and the startup task once more
    try:
        until("two new web replicas", lambda: len([r for r in runs("web") if r["status"] == "running"]) == 2)
        until("a second startup run", lambda: len(runs("boot")) == 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        client.close()


def db_times(tmp: Path, task: str) -> list[int]:
    db = sqlite3.connect(tmp / "runyard.db")
    try:
        return [t for (t,) in db.execute("SELECT created_at FROM runs WHERE task = ?", (task,))]
    finally:
        db.close()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[services.s]\nrun = 'true'\ninstances = 0", "services.s.instances: an integer from 1 to 100"),
        ("[tasks.s]\nrun = 'true'\ninstances = -2", "tasks.s.instances: an integer from 1 to 100"),
        ("[services.s]\nrun = 'true'\ncron = '@hourly'", "services.s.cron: a service runs all the time"),
        ("[services.s]\nrun = 'true'\nrestart = 'always'", "services.s.restart: a table like"),
        ("[tasks.s]\nrun = 'true'\nrun_on_start = 'yes'", "tasks.s.run_on_start: true or false"),
    ],
)
def test_bad_service_settings_name_file_and_key(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "runyard.toml"
    path.write_text(table + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: {message}")
