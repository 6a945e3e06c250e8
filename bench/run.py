"""`make bench`: runyard against a raw ASGI no-op on the same machine, in one run, reported as ratios.

Writes bench/results/foundation.md (durable triggers/s vs the no-op, end-to-end runs/s, trigger->start
latency, idle RSS) and bench/results/triggerdev.md (the SDK-shaped trigger, queue-limited throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import procs
from loadgen import LoadResult, build_request, read_response, run_load

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
API_KEY = "ry_bench_" + uuid.uuid4().hex
TASKS_TOML = """
[tasks.noop]
noop = true

[tasks.pynoop]
python = "bench.bench_tasks:nothing"

[tasks.limited]
python = "bench.bench_tasks:brief_sleep"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with procs.process(args, env, ROOT) as proc:
        yield proc


@contextmanager
def runyard_server(tmp: Path, *, worker: bool) -> Iterator[tuple[int, int, Path]]:
    port = free_port()
    db = tmp / f"bench-{port}.db"
    config = tmp / "runyard.toml"
    config.write_text(TASKS_TOML)
    args = [str(VENV_BIN / "runyard"), "server", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
    args += ["--database", f"sqlite:///{db}"] + ([] if worker else ["--no-worker"])
    env = {"RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp / "data"), "PYTHONPATH": str(ROOT)}
    with process(args, env) as proc:
        wait_http(f"http://127.0.0.1:{port}/health")
        yield port, proc.pid, db


@contextmanager
def noop_server(app: str = "noop_asgi:app") -> Iterator[int]:
    port = free_port()
    args = [str(VENV_BIN / "uvicorn"), app, "--app-dir", str(ROOT / "bench"), "--port", str(port)]
    args += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    with process(args):
        wait_http(f"http://127.0.0.1:{port}/")
        yield port


def load(port: int, make: Callable[[int], bytes], total: int, connections: int) -> LoadResult:
    return asyncio.run(run_load("127.0.0.1", port, make, connections=connections, total=total))


def merged(results: list[LoadResult]) -> LoadResult:
    """The rounds of one target as one result: the median round's rate, every request's latency."""
    rate = statistics.median(r.rps for r in results)
    total = LoadResult(requests=sum(r.requests for r in results), errors=sum(r.errors for r in results))
    total.seconds = total.requests / rate if rate else 0.0
    total.latencies_ms = [ms for r in results for ms in r.latencies_ms]
    for r in results:
        for status, count in r.statuses.items():
            total.statuses[status] = total.statuses.get(status, 0) + count
    return total


def runwisp_request(port: int) -> Callable[[int], bytes]:
    req = build_request("127.0.0.1", port, "POST", "/api/tasks/noop/run", b"", {"Authorization": f"Bearer {API_KEY}"})
    return lambda _i: req


def sdk_request(
    port: int, task: str = "noop", extra: Callable[[int], dict[str, object]] | None = None
) -> Callable[[int], bytes]:
    """What @trigger.dev/sdk 4.x sends for tasks.trigger(): a SuperJSON payload string and options."""

    def make(i: int) -> bytes:
        payload = json.dumps({"json": {"user": f"u{i}", "n": i}})
        options: dict[str, object] = {"payloadType": "application/super+json", "tags": ["bench"]}
        options.update(extra(i) if extra else {})
        body = json.dumps({"payload": payload, "options": options}).encode()
        headers = {
            "Authorization": f"Bearer {API_KEY}",
            "Content-Type": "application/json",
            "x-trigger-request-idempotency-key": str(uuid.uuid4()),
            "x-trigger-api-version": "2025-07-16",
            "trigger-version": "4.8.3",
            "x-trigger-source": "sdk",
        }
        return build_request("127.0.0.1", port, "POST", f"/api/v1/tasks/{task}/trigger", body, headers)

    return make


def native_request(port: int, task: str) -> Callable[[int], bytes]:
    def make(i: int) -> bytes:
        body = json.dumps({"payload": {"n": i}}).encode()
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        return build_request("127.0.0.1", port, "POST", f"/v1/tasks/{task}/trigger", body, headers)

    return make


def db_rows(db: Path, sql: str) -> list[tuple[int, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def wait_all_final(db: Path, expected: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    sql = "SELECT COUNT(*) FROM runs WHERE status IN ('completed','failed','crashed','timed_out','canceled','expired')"
    while time.monotonic() < deadline:
        if db_rows(db, sql)[0][0] >= expected:
            return
        time.sleep(0.05)
    raise RuntimeError("runs did not finish in time")


def pct(values: list[float], p: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))] if data else 0.0


def max_overlap(intervals: list[tuple[int, int]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = cur = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, c = args.requests, args.connections
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        with contextlib.ExitStack() as servers:
            noop_port = servers.enter_context(noop_server())
            framework_port = servers.enter_context(noop_server("noop_asgi:starlette_app"))
            port, _pid, db = servers.enter_context(runyard_server(tmp, worker=False))
            noop_req = build_request("127.0.0.1", noop_port, "POST", "/", b"", {})
            framework_req = build_request("127.0.0.1", framework_port, "POST", "/api/tasks/noop/run", b"", {})
            targets: dict[str, tuple[int, Callable[[int], bytes]]] = {
                "noop": (noop_port, lambda _i: noop_req),
                "starlette": (framework_port, lambda _i: framework_req),
                "runwisp": (port, runwisp_request(port)),
                "native": (port, native_request(port, "noop")),
                "sdk": (port, sdk_request(port)),
            }
            for target_port, make in targets.values():
                load(target_port, make, 2000, c)  # warm-up
            # The targets take turns, a slice of the requests each round, so that every ratio compares
            # figures taken at the same moments of a machine whose speed drifts.
            rounds: dict[str, list[LoadResult]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, (target_port, make) in targets.items():
                    rounds[name].append(load(target_port, make, n // args.rounds, c))
            noop, framework, runwisp, native, sdk = (merged(rounds[name]) for name in targets)
            stored = db_rows(db, "SELECT COUNT(*) FROM runs")[0][0]
        with runyard_server(tmp, worker=True) as (port, pid, db):
            time.sleep(2.0)
            idle_rss = rss_mb(pid)
            # Latency at a gentle rate: one connection, a short pause between triggers.
            lat_requests = native_request(port, "pynoop")

            async def paced() -> None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                for i in range(500):
                    writer.write(lat_requests(i))
                    await read_response(reader)
                    await asyncio.sleep(0.004)
                writer.close()

            asyncio.run(paced())
            wait_all_final(db, 500)
            lat = [
                (s - cr) / 1000
                for cr, s in db_rows(db, "SELECT created_at, started_at FROM runs WHERE started_at IS NOT NULL")
            ]
            # End to end: a burst of triggers of a Python no-op task, until every run has ended.
            t0 = time.perf_counter()
            e2e = load(port, native_request(port, "pynoop"), args.runs, c)
            wait_all_final(db, 500 + args.runs)
            e2e_seconds = time.perf_counter() - t0
            # Queue-limited: 4 concurrency keys x limit 2 on one queue; 400 runs of a 20 ms task.
            keys, limit, total = 4, 2, 400

            def extra(i: int) -> dict[str, object]:
                return {"queue": {"name": "limited-q", "concurrencyLimit": limit}, "concurrencyKey": f"k{i % keys}"}

            t0 = time.perf_counter()
            limited = load(port, sdk_request(port, "limited", extra), total, 16)
            wait_all_final(db, 500 + args.runs + total)
            limited_seconds = time.perf_counter() - t0
            spans = db_rows(db, "SELECT started_at, ended_at FROM runs WHERE task = 'limited' AND ended_at IS NOT NULL")
            per_key = db_rows(
                db,
                "SELECT concurrency_key, started_at, ended_at FROM runs WHERE task = 'limited' AND ended_at IS NOT NULL",
            )
            key_overlap = max(
                max_overlap([(s, e) for k, s, e in per_key if k == key]) for key in {k for k, _, _ in per_key}
            )
    out = {
        "noop_rps": noop.rps,
        "starlette_rps": framework.rps,
        "runwisp_rps": runwisp.rps,
        "native_rps": native.rps,
        "sdk_rps": sdk.rps,
        "errors": runwisp.errors + native.errors + sdk.errors,
        "stored": stored,
        "acknowledged": runwisp.requests + native.requests + sdk.requests + 3 * 2000,
        "idle_rss_mb": idle_rss,
        "lat_p50": pct(lat, 50),
        "lat_p99": pct(lat, 99),
        "e2e_rps": args.runs / e2e_seconds,
        "e2e_errors": e2e.errors,
        "limited_rps": total / limited_seconds,
        "limited_errors": limited.errors,
        "max_concurrency": max_overlap(spans),
        "max_key_concurrency": key_overlap,
        "keys": keys,
        "limit": limit,
        "p50_runwisp_ms": runwisp.percentile(50),
        "p99_runwisp_ms": runwisp.percentile(99),
        "p50_sdk_ms": sdk.percentile(50),
        "p99_sdk_ms": sdk.percentile(99),
        "n": n,
        "c": c,
        "runs": args.runs,
        "rounds": args.rounds,
    }
    write_reports(out)


def write_reports(r: dict[str, object]) -> None:
    def f(key: str, digits: int = 0) -> str:
        value = r[key]
        assert isinstance(value, int | float)
        return f"{value:,.{digits}f}"

    def ratio(key: str) -> str:
        a, b = r[key], r["noop_rps"]
        assert isinstance(a, float) and isinstance(b, float)
        return f"{a / b:.2f}"

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "foundation.md").write_text(
        f"""# Foundation benchmark

Run: {when} on {machine}; `make bench` (bench/run.py). One run; every peer measured side by side with the same
load generator ({r["c"]} keep-alive connections, {r["n"]:,} requests per target), which shares the cores with the server.
The servers run together and the targets take turns ({r["rounds"]} rounds of {r["n"] // r["rounds"]:,} requests each);
a rate is the median round's.

| measure | result | target |
|---|---|---|
| raw ASGI no-op (uvicorn + uvloop + httptools), requests/s | {f("noop_rps")} | baseline |
| Starlette no-op route (same server stack, no auth, no store), requests/s | {f("starlette_rps")} (ratio {ratio("starlette_rps")}) | peer |
| durable triggers/s, RunWisp `POST /api/tasks/noop/run` (SQLite, committed before 201) | {f("runwisp_rps")} | |
| ratio to the no-op | **{ratio("runwisp_rps")}** | >= 0.6 |
| durable triggers/s, native `POST /v1/tasks/noop/trigger` | {f("native_rps")} (ratio {ratio("native_rps")}) | |
| trigger latency under load, p50 / p99 (ms, RunWisp route) | {f("p50_runwisp_ms", 2)} / {f("p99_runwisp_ms", 2)} | |
| end-to-end Python no-op runs/s ({r["runs"]:,} runs: trigger burst until every run ended) | {f("e2e_rps")} | |
| trigger -> start latency, idle system, p50 / p99 (ms) | {f("lat_p50", 2)} / {f("lat_p99", 2)} | p50 < 2 ms |
| idle RSS, server + embedded worker (MB) | {f("idle_rss_mb", 1)} | <= 40 MB |
| triggers acknowledged / runs stored | {r["acknowledged"]:,} / {r["stored"]:,} | equal |
| error responses | {r["errors"]} | 0 |
"""
    )
    (results / "triggerdev.md").write_text(
        f"""# Trigger.dev dialect benchmark

Run: {when} on {machine}; `make bench` (bench/run.py), same run and load generator as foundation.md.

| measure | result |
|---|---|
| raw ASGI no-op, requests/s | {f("noop_rps")} |
| SDK-shaped trigger (`POST /api/v1/tasks/noop/trigger`, SuperJSON payload, tags, request idempotency key), durable triggers/s | {f("sdk_rps")} |
| ratio to the no-op | **{ratio("sdk_rps")}** |
| SDK-shaped trigger latency under load, p50 / p99 (ms) | {f("p50_sdk_ms", 2)} / {f("p99_sdk_ms", 2)} |
| queue-limited: {r["keys"]} concurrency keys x limit {r["limit"]}, 400 runs of a 20 ms task, runs/s | {f("limited_rps", 1)} |
| max observed concurrency overall (allowed {int(r["keys"]) * int(r["limit"])}) | {r["max_concurrency"]} |
| max observed concurrency within one key (allowed {r["limit"]}) | {r["max_key_concurrency"]} |
| error responses | {int(r["errors"]) + int(r["limited_errors"])} |
"""
    )
    print((results / "foundation.md").read_text())
    print((results / "triggerdev.md").read_text())


if __name__ == "__main__":
    main()
