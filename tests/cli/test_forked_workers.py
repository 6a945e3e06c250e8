"""`runyard server` forks its worker processes before it serves, so that they share its memory pages: they run
tasks like spawned ones, hold none of the server's sockets, die with it, and one that dies is replaced by a
fresh interpreter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import API_KEY, free_port, wait_healthy

RUNYARD = str(Path(sys.executable).parent / "runyard")


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def _listening_inode(port: int) -> str:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            return fields[9]
    raise AssertionError(f"nothing listens on {port}")


def _fd_links(pid: int) -> list[str]:
    return [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir() if fd.is_symlink()]


def _pids_of_runs(client: httpx.Client, count: int) -> set[int]:
    ids = [client.post("/v1/tasks/pid/trigger", json={}).json()["run"]["id"] for _ in range(count)]
    pids = set()
    for run_id in ids:
        for _ in range(500):
            run = client.get(f"/v1/runs/{run_id}").json()
            if run["status"] == "completed":
                pids.add(int(run["output"]))
                break
            time.sleep(0.02)
        else:
            raise AssertionError(f"run {run_id} did not complete: {run}")
    return pids


def test_forked_workers_run_tasks_hold_no_server_socket_and_die_with_the_server(tmp_path: Path) -> None:
    (tmp_path / "pidtask.py").write_text("import os\n\ndef pid(payload):\n    return os.getpid()\n")
    (tmp_path / "runyard.toml").write_text('[server]\nlease = "5s"\n\n[tasks.pid]\npython = "pidtask:pid"\n')
    port = free_port()
    proc = subprocess.Popen(
        [RUNYARD, "server", "--config", "runyard.toml", "--listen", f"127.0.0.1:{port}", "--database",
         f"sqlite:///{tmp_path / 'r.db'}", "--processes", "2"],
        cwd=tmp_path, env={**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp_path / "data")},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        workers = _children(proc.pid)
        assert len(workers) == 2
        server_cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        for pid in workers:  # forks of the server, not new interpreters
            assert Path(f"/proc/{pid}/comm").read_text().strip() == "runyard-worker"
            assert Path(f"/proc/{pid}/cmdline").read_bytes() == server_cmdline
            assert os.getpgid(pid) == pid  # a process group of its own, as a spawned worker
        listening = f"socket:[{_listening_inode(port)}]"
        assert listening in _fd_links(proc.pid)
        for pid in workers:
            assert listening not in _fd_links(pid), "a worker kept the server's listening socket"

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": API_KEY}, timeout=10) as c:
            assert _pids_of_runs(c, 20) <= set(workers)
            os.kill(workers[0], signal.SIGKILL)
            for _ in range(200):  # replaced by a new interpreter
                fresh = [p for p in _children(proc.pid) if p not in workers]
                if fresh:
                    break
                time.sleep(0.05)
            assert fresh, "the killed worker process was not replaced"
            assert b"runyard.worker_process" in Path(f"/proc/{fresh[0]}/cmdline").read_bytes()
            assert _pids_of_runs(c, 20) <= {workers[1], fresh[0]}
            everyone = [workers[1], fresh[0]]

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in everyone) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(Path(f"/proc/{pid}").exists() for pid in everyone), "a worker outlived a SIGKILLed server"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
