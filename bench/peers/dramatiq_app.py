"""The no-op job for Dramatiq 2 (Redis broker): it counts itself in a Redis hash, like the Huey job."""

from __future__ import annotations

import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

dramatiq.set_broker(RedisBroker(url="redis://127.0.0.1:6379/13"))
counts = redis.Redis(host="127.0.0.1", port=6379, db=14)


@dramatiq.actor(max_retries=0)
def noop(i: int, sent: float) -> None:
    counts.hincrby("done", str(i), 1)
    if sent:
        counts.rpush("latency", time.time() - sent)
