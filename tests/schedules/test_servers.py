"""Schedules with real server processes: two servers on one store fire each tick once; a broken schedule
configuration keeps the server from starting and says which file and key."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from runyard.settings import ConfigError, load_settings
from tests.conftest import free_port, wait_healthy

pytestmark = pytest.mark.slow
API_KEY = "ry_schedule_key_0123456789abcdefgh"
RUNYARD = str(Path(sys.executable).parent / "runyard")


def start(tmp: Path, config: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [RUNYARD, "server", "--config", str(config), "--listen", f"127.0.0.1:{port}",
         "--database", f"sqlite:///{tmp / 'runyard.db'}"],
        env={**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp / "data")},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_two_servers_on_one_store_make_one_run_per_tick(tmp_path: Path) -> None:
    config = tmp_path / "runyard.toml"
    config.write_text('[tasks.tick]\nrun = "echo tick"\ncron = "* * * * * *"\non_overlap = "queue"\n')
    ports = [free_port(), free_port()]
    procs = [start(tmp_path, config, port) for port in ports]
    try:
        for proc, port in zip(procs, ports, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}", proc)
        time.sleep(5)
        with httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            body = client.get(f"http://127.0.0.1:{ports[1]}/api/runs", params={"limit": 1000}).json()
        assert {r["triggered_by"] for r in body["items"]} == {"cron"}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    db = sqlite3.connect(tmp_path / "runyard.db")
    keys = [k for (k,) in db.execute("SELECT schedule_key FROM runs WHERE schedule_id IS NOT NULL ORDER BY 1")]
    assert len(keys) >= 4, "a tick every second for five seconds"
    assert len(keys) == len(set(keys)), "a tick made two runs"
    assert keys == list(range(keys[0], keys[-1] + 1, 1_000_000)), "a tick was left out"
    statuses = {s for (s,) in db.execute("SELECT status FROM runs")}
    assert statuses <= {"completed", "queued", "executing"}


@pytest.mark.parametrize(
    ("task", "key", "message"),
    [
        ('cron = "61 * * * *"', "tasks.bad.cron", "Bad minute"),
        ('cron = "@hourly"\ntimezone = "Mars/Olympus"', "tasks.bad.timezone", "unknown time zone"),
        ('cron = "@hourly"\non_overlap = "stack"', "tasks.bad.on_overlap", "unknown policy 'stack'"),
        ('cron = "@hourly"\ncatch_up = "some"', "tasks.bad.catch_up", "'latest', 'all', 'skip'"),
        ("max_queued = -1", "tasks.bad.max_queued", "from 0 to 10000"),
    ],
)
def test_a_bad_schedule_setting_names_file_and_key(tmp_path: Path, task: str, key: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f'[tasks.bad]\nrun = "true"\n{task}\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert str(info.value).startswith(f"{config}: {key}: ") and message in str(info.value)


def test_the_server_refuses_to_start_on_a_bad_cron(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[tasks.nightly]\nrun = "true"\ncron = "0 3 * *"\n')
    proc = start(tmp_path, config, free_port())
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 2
    text = " ".join(stderr.decode().split())
    assert f"{config}: tasks.nightly.cron: invalid cron expression '0 3 * *'" in text
