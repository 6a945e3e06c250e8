"""A `runyard worker` killed with SIGKILL takes its shell runs with it, so the retry never overlaps them.

Real processes: a server (API and maintenance, no worker) and a `runyard worker` on one SQLite file. The
first attempt of the run starts a `sleep` in its process group and a grandchild that left the group
(`setsid`), then the worker is SIGKILLed. Its reaper must end both; after the lease the run is retried by a
second worker, and the retry checks for itself that nothing of the first attempt is still alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_healthy

pytestmark = pytest.mark.slow

API_KEY = "ry_acceptance_key_0123456789abcdef"
COMMAND = (
    'if [ "$RUNYARD_ATTEMPT" = 1 ]; then '
    "env > {d}/env.txt; "
    "setsid sleep 300 & echo $! > {d}/escaped.pid; "
    "sleep 300 & echo $! > {d}/sleep.pid; echo $$ > {d}/group.pid; wait; "
    "else "
    "for f in escaped sleep group; do kill -0 $(cat {d}/$f.pid) 2>/dev/null && echo $f >> {d}/overlap; done; "
    "echo retried > {d}/retried; fi"
)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def pid_in(path: Path) -> int:
    """The pid a shell wrote to `path`, 0 while the file is missing or still empty."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdigit() else 0


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_sigkilled_worker_leaves_no_process_behind_and_the_retry_does_not_overlap(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = tmp_path / "runyard.toml"
    command = COMMAND.format(d=work)
    config.write_text(
        '[server]\nlease = "1s"\npoll_interval = "0.1s"\n\n'
        f"[tasks.hold]\nrun = '''{command}'''\nretry = {{ attempts = 2, min = \"0.1s\", max = \"0.1s\" }}\n"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runyard = str(Path(sys.executable).parent / "runyard")
    common = ["--config", str(config)]
    database = ["--database", f"sqlite:///{tmp_path / 'runyard.db'}"]
    env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp_path / "data")}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    procs: list[subprocess.Popen[bytes]] = []
    escaped = group = 0
    try:
        server = subprocess.Popen(
            [runyard, "server", *common, *database, "--no-worker", "--listen", f"127.0.0.1:{port}"], **quiet
        )  # type: ignore[call-overload]
        procs.append(server)
        wait_healthy(base, server)
        first = subprocess.Popen([runyard, "worker", *common, *database], **quiet)  # type: ignore[call-overload]
        procs.append(first)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5) as client:
            run_id = client.post("/api/tasks/hold/run").json()["id"]
            wait_until(lambda: pid_in(work / "group.pid"), 30, "the first attempt never started")
            escaped, group = pid_in(work / "escaped.pid"), pid_in(work / "group.pid")
            assert alive(escaped) and group_alive(group)
            # `setsid` runs in the background: it leaves the run's process group a moment after its pid is known
            wait_until(lambda: os.getpgid(escaped) != group, 10, "the grandchild never left the process group")

            first.send_signal(signal.SIGKILL)
            first.wait()
            gone = lambda: not group_alive(group) and not alive(escaped)  # noqa: E731
            wait_until(gone, 15, "the first attempt outlived its worker")

            second = subprocess.Popen([runyard, "worker", *common, *database], **quiet)  # type: ignore[call-overload]
            procs.append(second)
            wait_until(lambda: (work / "retried").exists(), 30, "the run was not retried")
            assert not (work / "overlap").exists(), (work / "overlap").read_text()
            wait_until(lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "ended", 15, "no end")
            run = client.get(f"/api/runs/{run_id}").json()
            assert run["end_reason"] == "success" and run["retry_attempt"] == 1, run

        task_env = dict(line.split("=", 1) for line in (work / "env.txt").read_text().splitlines() if "=" in line)
        assert "RUNYARD_API_KEY" not in task_env and "RUNYARD_DATA_DIR" not in task_env
        assert task_env["RUNYARD_RUN_ID"] == run_id and task_env["RUNYARD_WORKER_TOKEN"]
        assert task_env["PATH"] == os.environ["PATH"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if escaped and alive(escaped):
            os.kill(escaped, signal.SIGKILL)
        if group and group_alive(group):
            os.killpg(group, signal.SIGKILL)
