"""Tasks registered by decorator, found through `[server] imports`."""

from __future__ import annotations

import runyard


@runyard.task("double", attempts=2, concurrency=3, timeout="5s")
def double(payload: int) -> int:
    """Doubles a number."""
    return payload * 2


@runyard.task()
async def shout(payload: str) -> str:
    return payload.upper()


@runyard.task()
def send_email(payload: str) -> str:
    """Keeps its name: `send_email`, not `send-email`."""
    return f"sent {payload}"
