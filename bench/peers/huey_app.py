"""The no-op job for Huey 3 (Redis): it counts itself in a Redis hash so every job is checked to run once."""

from __future__ import annotations

import time

import redis
from huey import RedisHuey

huey = RedisHuey("bench-peers", host="127.0.0.1", port=6379, db=15)
counts = redis.Redis(host="127.0.0.1", port=6379, db=14)


@huey.task()
def noop(i: int, sent: float) -> None:
    counts.hincrby("done", str(i), 1)
    if sent:
        counts.rpush("latency", time.time() - sent)
