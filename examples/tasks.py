"""Example Python tasks (referenced from examples/runyard.toml)."""

from __future__ import annotations

import asyncio
from typing import Any

import runyard


@runyard.task()
def add(payload: dict[str, float]) -> float:
    """Add two numbers: {"a": 1, "b": 2} -> 3."""
    return payload["a"] + payload["b"]


@runyard.task()
async def echo(payload: Any) -> dict[str, Any]:
    """Return the payload it was given, after a short pause."""
    await asyncio.sleep(0.1)
    return {"echo": payload}


@runyard.task(attempts=3)
def flaky(payload: Any) -> str:
    """Fails unless the payload is {"succeed": true}: shows retries with backoff."""
    if not (isinstance(payload, dict) and payload.get("succeed")):
        raise RuntimeError('flaky failed (send {"succeed": true} to make it pass)')
    return "ok"
