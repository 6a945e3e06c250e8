"""The no-op job for PgQueuer (PostgreSQL, asyncpg): it counts itself in a Redis hash, like the other peers.
`pgq run pgqueuer_app:main` builds the worker from `main`."""

from __future__ import annotations

import os
import time

import asyncpg
import redis
from pgqueuer import AsyncpgDriver, PgQueuer
from pgqueuer.models import Job

DSN = os.environ.get("BENCH_PGQ_DSN", "postgresql://postgres@127.0.0.1:5432/bench_pgqueuer")
counts = redis.Redis(host="127.0.0.1", port=6379, db=14)


async def main() -> PgQueuer:
    pgq = PgQueuer(AsyncpgDriver(await asyncpg.connect(DSN)))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        i, sent = (job.payload or b"0,0").decode().split(",")
        counts.hincrby("done", i, 1)
        if float(sent):
            counts.rpush("latency", time.time() - float(sent))

    return pgq
