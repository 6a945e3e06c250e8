"""`make bench` part: the scheduler with 10,000 schedules, and run events delivered to 100 SSE subscribers.

1. 10,000 schedules firing every minute (`* * * * *`) on a server without a worker (so only scheduling is
   measured): the server's CPU seconds per minute of wall time (against the same server with no schedules),
   and each tick's lateness (when its run was created minus when the tick was due), p50 / p99 / max.
2. 100 clients on `GET /api/events/stream` while runs are triggered and executed: run events delivered per
   second (events x subscribers / time until every subscriber had every event).

Writes bench/results/schedules.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RUNYARD = str(Path(sys.executable).parent / "runyard")
API_KEY = "ry_bench_" + uuid.uuid4().hex
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(tmp: Path, config: str, *, worker: bool) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    (tmp / "runyard.toml").write_text(config)
    port = free_port()
    args = [RUNYARD, "server", "--config", str(tmp / "runyard.toml"), "--listen", f"127.0.0.1:{port}",
            "--database", f"sqlite:///{tmp / 'runyard.db'}", *([] if worker else ["--no-worker"])]  # fmt: skip
    env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp / "data")}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(30)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def cpu_per_minute(proc: subprocess.Popen[bytes], seconds: float) -> float:
    time.sleep(2)  # past start-up
    before, start = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(proc.pid) - before) / (time.monotonic() - start) * 60


def scheduler_bench(schedules: int, seconds: float) -> dict[str, float]:
    config = "[server]\nembedded_worker = false\n\n[tasks.tick]\nnoop = true\n"
    out: dict[str, float] = {"schedules": schedules, "seconds": seconds}
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp), config, worker=False) as (proc, _port):
        out["idle_cpu_s_per_min"] = cpu_per_minute(proc, min(seconds, 30))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with server(root, config, worker=False) as (proc, port):
            headers = {"Authorization": f"Bearer {API_KEY}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as client:
                created = time.monotonic()
                for i in range(schedules):
                    body = {"task": "tick", "cron": "* * * * *", "deduplication_key": f"s{i}"}
                    assert client.post("/v1/schedules", json=body).status_code == 201
                out["create_per_s"] = schedules / (time.monotonic() - created)
            out["cpu_s_per_min"] = cpu_per_minute(proc, seconds)
        db = sqlite3.connect(root / "runyard.db")
        late = []
        for created_at, payload in db.execute("SELECT created_at, payload FROM runs WHERE triggered_by = 'cron'"):
            due = json.loads(payload)["timestamp"]
            due_us = int(time.mktime(time.strptime(due[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone) * 1_000_000
            late.append((created_at - due_us) / 1000)
        out["ticks"] = len(late)
        out["late_p50_ms"], out["late_p99_ms"], out["late_max_ms"] = pct(late, 50), pct(late, 99), max(late or [0])
        out["missed"] = db.execute("SELECT COUNT(*) FROM runs WHERE end_reason = 'missed'").fetchone()[0]
    return out


async def sse_bench(subscribers: int, runs: int) -> dict[str, float]:
    config = "[tasks.noop]\nnoop = true\n"
    out: dict[str, float] = {"subscribers": subscribers, "runs": runs}
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp), config, worker=True) as (_proc, port):
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {API_KEY}"}
        expected = runs * 3  # created, started, completed
        ready = asyncio.Event()
        connected = 0
        done_at: list[float] = []

        async def subscriber(client: httpx.AsyncClient) -> None:
            nonlocal connected
            seen = 0
            async with client.stream("GET", "/api/events/stream") as resp:
                connected += 1
                if connected == subscribers:
                    ready.set()
                async for line in resp.aiter_lines():
                    if line.startswith("event: run."):
                        seen += 1
                        if seen == expected:
                            done_at.append(time.monotonic())
                            return

        limits = httpx.Limits(max_connections=subscribers + 16)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as client:
            tasks = [asyncio.create_task(subscriber(client)) for _ in range(subscribers)]
            await asyncio.wait_for(ready.wait(), 60)
            await asyncio.sleep(0.5)
            start = time.monotonic()
            sem = asyncio.Semaphore(16)

            async def trigger() -> None:
                async with sem:
                    assert (await client.post("/api/tasks/noop/run")).status_code == 201

            await asyncio.gather(*(trigger() for _ in range(runs)))
            await asyncio.wait_for(asyncio.gather(*tasks), 300)
        elapsed = max(done_at) - start
        out["events"] = expected
        out["deliveries_per_s"] = expected * subscribers / elapsed
        out["seconds"] = elapsed
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    sched = scheduler_bench(args.schedules, args.seconds)
    sse = asyncio.run(sse_bench(args.subscribers, args.runs))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    report = f"""# Scheduler and event-stream benchmark

Run: {when} on {machine}; `make bench` (bench/schedules.py). Server and clients share the machine.

| measure | result |
|---|---|
| schedules (`* * * * *`, made over `POST /v1/schedules`), created/s | {sched["schedules"]:,.0f}, {sched["create_per_s"]:,.0f}/s |
| server CPU, idle with no schedules (s per minute) | {sched["idle_cpu_s_per_min"]:.2f} |
| server CPU with {sched["schedules"]:,.0f} schedules, no worker (s per minute, {sched["seconds"]:.0f} s window) | {sched["cpu_s_per_min"]:.2f} |
| ticks fired in the window | {sched["ticks"]:,.0f} |
| tick lateness (run created - tick due), p50 / p99 / max (ms) | {sched["late_p50_ms"]:.0f} / {sched["late_p99_ms"]:.0f} / {sched["late_max_ms"]:.0f} |
| ticks recorded as missed | {sched["missed"]:,.0f} |
| SSE subscribers on `GET /api/events/stream` | {sse["subscribers"]:,.0f} |
| runs triggered (3 events each: created, started, completed) | {sse["runs"]:,.0f} |
| run events delivered per second (events x subscribers / time until all had all) | {sse["deliveries_per_s"]:,.0f} |
"""
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "schedules.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
