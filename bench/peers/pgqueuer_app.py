"""The no-op job for PgQueuer (PostgreSQL, asyncpg): it counts itself in a Redis hash, like the other peers.
`python pgqueuer_app.py` runs one worker through PgQueuer's own supervisor (`pgqueuer.run`, what `pgq run`
calls; the 1.6.0 CLI fails on its --log-level option, so it is called directly)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

import asyncpg
import redis
from pgqueuer import AsyncpgDriver, PgQueuer, run
from pgqueuer.models import Job

DSN = os.environ.get("BENCH_PGQ_DSN", "postgresql://postgres@127.0.0.1:5432/bench_pgqueuer")
counts = redis.Redis(host="127.0.0.1", port=6379, db=14)


@contextlib.asynccontextmanager
async def main() -> AsyncIterator[PgQueuer]:
    conn = await asyncpg.connect(DSN)
    pgq = PgQueuer(AsyncpgDriver(conn))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        i, sent = (job.payload or b"0,0").decode().split(",")
        counts.hincrby("done", i, 1)
        if float(sent):
            counts.rpush("latency", time.time() - float(sent))

    try:
        yield pgq
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(run(main, batch_size=10))
