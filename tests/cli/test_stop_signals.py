"""Stopping `runyard server` the way it is stopped in practice: systemd sends SIGTERM to every process of the
service at once, a terminal sends SIGINT to the whole foreground group. The worker processes are not
restarted while the server stops, nothing is left running, and Ctrl-C ends with one line, not a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import API_KEY, free_port, wait_healthy

RUNYARD = str(Path(sys.executable).parent / "runyard")


def _server(tmp_path: Path) -> subprocess.Popen[str]:
    """`runyard server` with two worker processes, in a session of its own, once it answers."""
    (tmp_path / "runyard.toml").write_text('[tasks.hello]\nrun = "echo hi"\n')
    port = free_port()
    proc = subprocess.Popen(
        [RUNYARD, "server", "--config", str(tmp_path / "runyard.toml"), "--listen", f"127.0.0.1:{port}",
         "--database", f"sqlite:///{tmp_path / 'r.db'}", "--processes", "2"],
        env={**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp_path / "data")},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, text=True,
    )  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def _workers(proc: subprocess.Popen[str]) -> list[str]:
    """The server's children: its worker processes (forked from it, so named by `comm`, not a command line)."""
    found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    pids = found.stdout.split()
    assert all(Path(f"/proc/{pid}/comm").read_text().strip() == "runyard-worker" for pid in pids)
    return pids


def _stopped_cleanly(proc: subprocess.Popen[str], workers: list[str]) -> str:
    """The stopped server restarted no worker and printed no traceback, and its workers are gone; its stderr."""
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "starting another" not in stderr and "Traceback" not in stderr, stderr
    time.sleep(0.5)
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists(), f"worker process {pid} outlived the server"
    return stderr


# uvicorn stops gracefully, then passes the signal on: SIGTERM ends the process as killed by it (-15, what
# systemd expects of the signal it sent), Ctrl-C ends with 130 after one line.
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)])
def test_a_signal_to_the_whole_group_stops_everything_once(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    proc = _server(tmp_path)
    try:
        workers = _workers(proc)
        assert len(workers) == 2
        os.killpg(proc.pid, sig)  # every process of the server's group at once (its workers have their own)
        assert proc.wait(30) == code
        stderr = _stopped_cleanly(proc, workers)
        if sig is signal.SIGINT:
            assert "runyard stopped" in stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_cgroup_wide_sigterm_does_not_restart_the_workers(tmp_path: Path) -> None:
    """systemd's default stop: SIGTERM to the server and to each worker process at the same time."""
    proc = _server(tmp_path)
    try:
        time.sleep(1.0)  # the workers are up and idle
        workers = _workers(proc)
        assert len(workers) == 2
        for pid in [proc.pid, *map(int, workers)]:
            os.kill(pid, signal.SIGTERM)
        proc.wait(30)
        _stopped_cleanly(proc, workers)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
