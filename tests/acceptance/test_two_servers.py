"""Two servers on one SQLite file and one data directory work together: both accept triggers, both execute,
every run executes exactly once, and they share the admin key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_healthy

pytestmark = pytest.mark.slow
RUNYARD = str(Path(sys.executable).parent / "runyard")


def test_two_servers_share_one_database_and_execute_each_run_once(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    config = tmp_path / "runyard.toml"
    config.write_text(f'[server]\npoll_interval = "0.05s"\n\n[tasks.mark]\nrun = "touch {marks}/$RUNYARD_RUN_ID-$$"\n')
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    env = {**clean, "RUNYARD_DATA_DIR": str(tmp_path / "data")}
    database = f"sqlite:///{tmp_path / 'one.db'}"
    servers: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for _ in range(2):
            port = free_port()
            proc = subprocess.Popen([RUNYARD, "server", "--config", str(config), "--listen", f"127.0.0.1:{port}",
                                     "--database", database, "--processes", "1"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            servers.append((proc, f"http://127.0.0.1:{port}"))
            wait_healthy(servers[-1][1], proc)
        key = (tmp_path / "data" / "admin.key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        ids = []
        for n in range(40):
            url = servers[n % 2][1]
            resp = httpx.post(f"{url}/v1/tasks/mark/trigger", json={}, headers=headers, timeout=10)
            assert resp.status_code == 201, resp.text
            ids.append(resp.json()["run"]["id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = httpx.get(f"{servers[0][1]}/v1/runs", params={"limit": 100}, headers=headers).json()["runs"]
            if sum(r["status"] == "completed" for r in runs) == len(ids):
                break
            time.sleep(0.1)
        assert sorted(r["id"] for r in runs if r["status"] == "completed") == sorted(ids)
        executed = [p.name.split("-")[0] for p in marks.iterdir()]
        assert sorted(executed) == sorted(ids)  # each run once, none twice
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)
