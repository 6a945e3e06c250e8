"""The no-op job for Procrastinate 3 (PostgreSQL): it counts itself in a Redis hash, like the other peers."""

from __future__ import annotations

import os
import time

import procrastinate
import redis

DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/bench_procrastinate")
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))
counts = redis.Redis(host="127.0.0.1", port=6379, db=14)


@app.task(name="noop")
def noop(i: int, sent: float) -> None:
    counts.hincrby("done", str(i), 1)
    if sent:
        counts.rpush("latency", time.time() - sent)
