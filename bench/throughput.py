"""`make bench` (throughput): batch triggers/s, and drain rate against the depth of the backlog.

- Batch trigger: Trigger.dev's `POST /api/v2/tasks/batch`, 1,000 items a request (its limit), 4 connections,
  50,000 runs in all, each batch committed before its answer; every run counted in the database afterwards.
- Drain at depth: a server without workers gets a backlog of N runs of a sync `def` no-op (by batches), then
  `runyard worker --processes 2` starts next to it; drain/s = N / (start of the worker -> last run ended). The
  same at 5,000 and 50,000 queued: a drain that stays fast at depth keeps the ratio near 1. Timed from the
  first run's start to the last run's end (the database's own times), so the worker's start-up is not in it.
- The store alone: the rate at which the SQLite store inserts plain runs, 1,000 a transaction.

Writes bench/results/throughput.md. One run on one machine; the load generator shares the cores.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import build_request
from run import API_KEY, ROOT, VENV_BIN, db_rows, load, process, runyard_server, wait_all_final

BATCH = 1000


def batch_request(port: int, task: str) -> bytes:
    items = [{"task": task, "payload": json.dumps({"json": {"n": i}}), "options": {}} for i in range(BATCH)]
    body = json.dumps({"items": items}).encode()
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    return build_request("127.0.0.1", port, "POST", "/api/v2/tasks/batch", body, headers)


def count(db: Path, where: str = "1") -> int:
    return int(db_rows(db, f"SELECT COUNT(*) FROM runs WHERE {where}")[0][0])


def batch_rate(tmp: Path, runs: int) -> float:
    with runyard_server(tmp / "batch", worker=False) as (port, _pid, db):
        request = batch_request(port, "noop")
        load(port, lambda _i: request, 5, 4)  # warm-up
        before = count(db)
        t0 = time.perf_counter()
        result = load(port, lambda _i: request, runs // BATCH, 4)
        elapsed = time.perf_counter() - t0
        assert result.errors == 0, f"{result.errors} batches failed"
        assert count(db) - before == runs, "a batch was acknowledged but its runs are not all stored"
        return runs / elapsed


def drain_rate(tmp: Path, depth: int) -> float:
    where = tmp / f"drain-{depth}"
    with runyard_server(where, worker=False) as (port, _pid, db):
        request = batch_request(port, "pynoop")
        load(port, lambda _i: request, depth // BATCH, 4)
        assert count(db, "status = 'queued'") == depth
        worker = [str(VENV_BIN / "runyard"), "worker", "--config", str(where / "runyard.toml"),
                  "--database", f"sqlite:///{db}", "--processes", "2"]  # fmt: skip
        env = {"RUNYARD_DATA_DIR": str(where / "data"), "PYTHONPATH": str(ROOT)}
        with process(worker, env):
            wait_all_final(db, depth, timeout=600)
        assert count(db, "status = 'completed'") == depth
        first_start, last_end = db_rows(db, "SELECT MIN(started_at), MAX(ended_at) FROM runs")[0]
        return depth / ((last_end - first_start) / 1e6)  # from the first start: the worker's own start-up aside


def store_insert_rate(tmp: Path, runs: int) -> float:
    """The SQLite store alone: its batch insert of 1,000 plain runs, one transaction each (the ceiling
    of a batch trigger on this machine, without HTTP, decoding or an interpreter lock shared with a server)."""
    from runyard.ids import new_ulid, now_us
    from runyard.store.sqlite import migrate
    from runyard.store.sqlite_conn import connect
    from runyard.store.sqlite_sql import insert_many

    conn = connect(tmp / "store.db")
    migrate(conn)
    now = now_us()
    rows = [
        {"id": new_ulid(), "task": "noop", "status": "queued", "queue": "task/noop", "concurrency_key": "",
         "payload": b'{"json":{"n":1}}', "payload_type": "application/super+json", "context": None, "tags": "[]",
         "metadata": None, "idempotency_key": None, "idempotency_expires_at": None, "request_key": None,
         "priority": 0, "available_at": now, "expires_at": None, "ttl_s": None, "max_attempts": 1,
         "max_duration_s": None, "triggered_by": "api", "replay_of": None, "batch_id": f"b{i // BATCH}",
         "batch_index": i % BATCH, "created_at": now, "updated_at": now, "delayed_until": None, "schedule_id": None,
         "schedule_key": None, "replica_index": 0, "retry_as_new_run": 0}
        for i in range(runs)
    ]  # fmt: skip
    t0 = time.perf_counter()
    for start in range(0, runs, BATCH):
        conn.execute("BEGIN IMMEDIATE")
        insert_many(conn, "insert_run", rows[start : start + BATCH])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return runs / elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for sub in ("batch", "drain-5000", "drain-50000"):
            (tmp / sub).mkdir()
        out = {
            "batch": batch_rate(tmp, 50_000),
            "store": store_insert_rate(tmp, 50_000),
            "drain_5k": drain_rate(tmp, 5_000),
            "drain_50k": drain_rate(tmp, 50_000),
        }
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ratio = out["drain_50k"] / out["drain_5k"]
    text = f"""# Throughput benchmark

Run: {when} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; `make bench`
(bench/throughput.py). One run; the load generator shares the cores with the server.

| measure | result | goal |
|---|---|---|
| batch trigger, runs/s (Trigger.dev `POST /api/v2/tasks/batch`, 1,000 items a batch, 4 connections, 50,000 runs) | {out["batch"]:,.0f} | >= 50,000 |
| the store alone: runs/s inserted, 1,000 a transaction (no HTTP, no decoding, no server) | {out["store"]:,.0f} | |
| drain, 5,000 queued: runs/s from the first start to the last end (`runyard worker --processes 2` next to the server, sync `def` no-op) | {out["drain_5k"]:,.0f} | |
| drain, 50,000 queued: runs/s | {out["drain_50k"]:,.0f} | |
| drain at 50,000 / drain at 5,000 | {ratio:.2f} | >= 0.8 |

Every acknowledged batch's runs were counted in the database, and every drained run ended `completed`.
"""
    path = ROOT / "bench" / "results" / "throughput.md"
    path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
