"""The reaper process: kills registered process groups and their escaped descendants on request or at EOF."""

from __future__ import annotations

import os
import subprocess
import time

from runyard.reaper import Reaper


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def wait_gone(pids: list[int], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, f"still alive: {[p for p in pids if alive(p)]}"
        time.sleep(0.05)


def start_run(token: str, run_id: str) -> tuple[subprocess.Popen[bytes], int]:
    """A shell in its own group that starts a grandchild in a session of its own; returns (shell, escaped pid)."""
    env = {"PATH": os.environ["PATH"], "RUNYARD_WORKER_TOKEN": token, "RUNYARD_RUN_ID": run_id}
    proc = subprocess.Popen(
        ["/bin/sh", "-c", "setsid sleep 300 & echo $!; exec sleep 300"],
        env=env, stdout=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    escaped = int(proc.stdout.readline())
    return proc, escaped


def test_kill_now_ends_the_group_and_the_escaped_grandchild_but_not_other_runs() -> None:
    token = f"test-{os.getpid()}-{time.monotonic_ns()}"
    reaper = Reaper.start(token, grace=2.0)
    tracked, escaped = start_run(token, "RUN1")
    other, other_escaped = start_run(token, "RUN2")  # not registered: a run that already ended
    try:
        reaper.track(tracked.pid, "RUN1")
        reaper.kill_now()
        tracked.wait(timeout=15)
        wait_gone([escaped])
        assert alive(other.pid) and alive(other_escaped)
    finally:
        reaper.close()
        for proc in (tracked, other):
            proc.kill()
            proc.wait()
        for pid in (escaped, other_escaped):
            if alive(pid):
                os.kill(pid, 9)


def test_a_restarted_reaper_gets_every_registered_group() -> None:
    token = f"test-{os.getpid()}-{time.monotonic_ns()}"
    reaper = Reaper.start(token, grace=2.0)
    proc, escaped = start_run(token, "RUN1")
    try:
        reaper.track(proc.pid, "RUN1")
        first = reaper.pid
        assert first is not None
        os.kill(first, 9)  # the reaper dies; the next message starts a new one with the groups so far
        time.sleep(0.2)
        reaper.kill_now()
        assert reaper.pid != first
        proc.wait(timeout=15)
        wait_gone([escaped])
    finally:
        reaper.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if alive(escaped):
            os.kill(escaped, 9)
