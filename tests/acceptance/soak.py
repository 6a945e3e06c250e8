"""Crash soak: a server (API only) and two workers as real processes, runs triggered continuously, and every
few seconds one of the three processes killed with SIGKILL and started again. At the end:

- every run the server acknowledged (201) exists and has ended;
- no run had two attempts executing at once (each attempt's shell writes a heartbeat file every 50 ms: the
  time ranges of one run's attempts never overlap);
- attempts cut off by a kill ended through lease expiry (crashed, then retried);

and it prints runs accepted, kills, runs lost, double executions, and the longest recovery (a kill until the
next run ended). `make soak` runs it for minutes; tests/acceptance/test_soak.py runs a short version.

    python -m tests.acceptance.soak --seconds 300
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

API_KEY = "ry_soak_key_0123456789abcdefghijklm"
RUNYARD = str(Path(sys.executable).parent / "runyard")
CONFIG = """
[server]
lease = "1s"
poll_interval = "0.1s"

[tasks.work]
run = '''
beats={dir}/beats/$RUNYARD_RUN_ID.$RUNYARD_ATTEMPT
for i in 1 2 3 4 5 6; do date +%s%N >> $beats; sleep 0.05; done
date +%s%N >> $beats
'''
retry = {{ attempts = 20, min = "0.05s", max = "0.2s" }}
"""


@dataclass
class Report:
    accepted: int = 0
    kills: int = 0
    lost: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    double: list[str] = field(default_factory=list)
    lease_expiries: int = 0
    still_leased: int = 0  # attempts left `running` after everything ended
    longest_recovery_s: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"runs accepted:        {self.accepted}",
            f"kills (SIGKILL):      {self.kills}",
            f"runs lost:            {len(self.lost)}",
            f"runs not ended:       {len(self.unfinished)}",
            f"double executions:    {len(self.double)}",
            f"attempts ended by lease expiry: {self.lease_expiries} (left leased: {self.still_leased})",
            f"longest recovery:     {self.longest_recovery_s:.2f} s (a kill until the next run ended)",
        ]

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unfinished or self.double or self.still_leased)


class Cluster:
    def __init__(self, tmp: Path, port: int) -> None:
        self.tmp, self.port = tmp, port
        (tmp / "beats").mkdir()
        (tmp / "runyard.toml").write_text(CONFIG.format(dir=tmp))
        self.env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp / "data")}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        common = ["--config", str(self.tmp / "runyard.toml"), "--database", f"sqlite:///{self.tmp / 'runyard.db'}"]
        if name == "server":
            args = [RUNYARD, "server", *common, "--no-worker", "--listen", f"127.0.0.1:{self.port}"]
        else:
            args = [RUNYARD, "worker", *common]
        self.procs[name] = subprocess.Popen(
            args, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        if name == "server":
            self.wait_healthy()

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not come back"
            time.sleep(0.05)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def trigger_loop(base: str, accepted: list[str], stop: threading.Event) -> None:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=3) as client:
        while not stop.is_set():
            try:
                resp = client.post("/api/tasks/work/run")
            except httpx.HTTPError:
                time.sleep(0.05)  # the server is down: not acknowledged, so it may be lost
                continue
            if resp.status_code == 201:
                accepted.append(resp.json()["id"])
            time.sleep(0.02)


def soak(seconds: float, kill_every: float = 3.0, seed: int | None = None) -> Report:
    rng = random.Random(seed)
    report = Report()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        cluster = Cluster(tmp, port)
        for name in ("server", "worker-1", "worker-2"):
            cluster.start(name)
        accepted: list[str] = []
        stop = threading.Event()
        loader = threading.Thread(target=trigger_loop, args=(f"http://127.0.0.1:{port}", accepted, stop))
        loader.start()
        kill_times: list[float] = []
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(rng.uniform(kill_every * 0.5, kill_every * 1.5))
                victim = rng.choice(["server", "worker-1", "worker-2"])
                cluster.kill(victim)
                kill_times.append(time.time())
                report.kills += 1
                time.sleep(rng.uniform(0.1, 0.5))
                cluster.start(victim)
        finally:
            stop.set()
            loader.join()
        report.accepted = len(accepted)
        # Let everything acknowledged finish, then stop cleanly.
        db_path = tmp / "runyard.db"
        settle = time.monotonic() + 60
        while time.monotonic() < settle:
            with sqlite3.connect(db_path) as db:
                pending = db.execute(
                    "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'delayed', 'executing')"
                ).fetchone()[0]
            if pending == 0:
                break
            time.sleep(0.2)
        cluster.stop_all()
        with sqlite3.connect(db_path) as db:
            runs = dict(db.execute("SELECT id, status FROM runs").fetchall())
            report.lease_expiries = db.execute(
                "SELECT COUNT(*) FROM attempts WHERE status = 'crashed' AND error LIKE '%LEASE_EXPIRED%'"
            ).fetchone()[0]
            report.still_leased = db.execute("SELECT COUNT(*) FROM attempts WHERE status = 'running'").fetchone()[0]
            ended = [t / 1e6 for (t,) in db.execute("SELECT ended_at FROM runs WHERE ended_at IS NOT NULL")]
        report.lost = [r for r in accepted if r not in runs]
        report.unfinished = [r for r in accepted if runs.get(r) not in (None, "completed", "failed", "crashed")]
        report.double = double_executions(tmp / "beats")
        ended.sort()
        for killed in kill_times:
            after = next((t for t in ended if t > killed), None)
            if after is not None:
                report.longest_recovery_s = max(report.longest_recovery_s, after - killed)
    return report


def double_executions(beats: Path) -> list[str]:
    """Runs whose attempts' heartbeat ranges overlap: two attempts executing at once."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for path in beats.iterdir():
        run_id, _, _attempt = path.name.partition(".")
        stamps = [int(line) for line in path.read_text().split() if line.isdigit()]
        if stamps:
            spans.setdefault(run_id, []).append((min(stamps), max(stamps)))
    double = []
    for run_id, ranges in spans.items():
        ranges.sort()
        if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(ranges)):
            double.append(run_id)
    return double


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    report = soak(args.seconds, args.kill_every, args.seed)
    print("\n".join(report.lines()))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
