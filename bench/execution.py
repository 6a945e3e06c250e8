"""`make bench` (execution): end-to-end no-op Python runs/s in the README layout for a sync `def` and an
`async def` task, trigger -> start latency with a separate `runyard worker` process, and the memory of an
idle server: RSS and PSS of the whole process tree, and of a single-process server.

Writes bench/results/execution.md. One run on one machine; the load generator shares the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import read_response
from run import (
    API_KEY,
    ROOT,
    VENV_BIN,
    db_rows,
    free_port,
    load,
    native_request,
    pct,
    process,
    wait_all_final,
    wait_http,
)

CONFIG = """
[tasks.sync-noop]
python = "bench.bench_tasks:nothing"

[tasks.async-noop]
python = "bench.bench_tasks:nothing_async"
"""


def tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += tree(int(child))
    return found


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(RSS, PSS) summed over `pids`, MB, from /proc/<pid>/smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss / 1024, pss / 1024


@contextmanager
def server(tmp: Path, *extra: str) -> Iterator[tuple[int, int, Path]]:
    port = free_port()
    db = tmp / f"exec-{port}.db"
    (tmp / "runyard.toml").write_text(CONFIG)
    args = [str(VENV_BIN / "runyard"), "server", "--config", str(tmp / "runyard.toml"), "--listen",
            f"127.0.0.1:{port}", "--database", f"sqlite:///{db}", *extra]  # fmt: skip
    env = {"RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp / f"data-{port}"), "PYTHONPATH": str(ROOT)}
    with process(args, env) as proc:
        wait_http(f"http://127.0.0.1:{port}/health")
        yield port, proc.pid, db


def end_to_end(port: int, db: Path, task: str, runs: int, already: int) -> float:
    t0 = time.perf_counter()
    result = load(port, native_request(port, task), runs, 64)
    assert result.errors == 0, f"{result.errors} triggers failed"
    wait_all_final(db, already + runs)
    return runs / (time.perf_counter() - t0)


def paced_latency(port: int, db: Path, task: str, count: int) -> tuple[float, float]:
    make = native_request(port, task)

    async def paced() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(count):
            writer.write(make(i))
            await read_response(reader)
            await asyncio.sleep(0.004)
        writer.close()

    asyncio.run(paced())
    wait_all_final(db, count)
    lat = [
        (s - c) / 1000 for c, s in db_rows(db, "SELECT created_at, started_at FROM runs WHERE started_at IS NOT NULL")
    ]
    return pct(lat, 50), pct(lat, 99)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5000)
    args = parser.parse_args()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        with server(tmp) as (port, pid, db):  # the README layout: one worker process per core
            time.sleep(2.0)
            out["tree_processes"] = len(tree(pid))
            out["tree_rss"], out["tree_pss"] = memory_mb(tree(pid))
            load(port, native_request(port, "sync-noop"), 500, 16)  # warm-up
            wait_all_final(db, 500)
            out["sync_rps"] = end_to_end(port, db, "sync-noop", args.runs, 500)
            out["async_rps"] = end_to_end(port, db, "async-noop", args.runs, 500 + args.runs)
        with server(tmp, "--processes", "0") as (port, pid, _db):
            time.sleep(2.0)
            out["single_rss"], out["single_pss"] = memory_mb([pid])
        with server(tmp, "--no-worker") as (port, _pid, db):
            worker_args = [str(VENV_BIN / "runyard"), "worker", "--config", str(tmp / "runyard.toml"),
                           "--database", f"sqlite:///{db}"]  # fmt: skip
            env = {"RUNYARD_DATA_DIR": str(tmp / f"data-{port}"), "PYTHONPATH": str(ROOT)}
            with process(worker_args, env):
                time.sleep(2.0)
                out["worker_p50"], out["worker_p99"] = paced_latency(port, db, "sync-noop", 500)
    write_report(out, args.runs)


def write_report(r: dict[str, float], runs: int) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = [
        (f"end-to-end sync `def` no-op runs/s, README layout ({runs:,} runs: a trigger burst until every run ended)",
         f"{r['sync_rps']:,.0f}", ""),
        ("end-to-end `async def` no-op runs/s, the same", f"{r['async_rps']:,.0f}", ""),
        ("trigger -> start, separate `runyard worker` process, p50 / p99 (ms; 500 triggers 4 ms apart)",
         f"{r['worker_p50']:.2f} / {r['worker_p99']:.2f}", "p50 < 2 ms"),
        ("idle server with its workers: processes; RSS / PSS of the tree (MB)",
         f"{r['tree_processes']:.0f}; {r['tree_rss']:.1f} / {r['tree_pss']:.1f}", "PSS <= 50 MB"),
        ("idle single-process server (`--processes 0`), RSS / PSS (MB)",
         f"{r['single_rss']:.1f} / {r['single_pss']:.1f}", "RSS <= 40 MB"),
    ]  # fmt: skip
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    text = f"""# Execution benchmark

Run: {when} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; `make bench`
(bench/execution.py). One run; the load generator (64 keep-alive connections) shares the cores with the server.

| measure | result | goal |
|---|---|---|
{table}

RSS counts shared pages once per process; PSS divides each shared page among the processes that map it, so
the tree's PSS is what the tree costs the machine.
"""
    path = ROOT / "bench" / "results" / "execution.md"
    path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
