"""Tasks the benchmark runs."""

from __future__ import annotations

import asyncio
from typing import Any


def nothing(payload: Any) -> None:
    return None


async def brief_sleep(payload: Any) -> None:
    await asyncio.sleep(0.02)


def exact_score(output: Any, expected: Any) -> dict[str, Any]:
    """A code evaluator: 1 when the output is the expected answer."""
    ok = output == expected
    return {"score": 1.0 if ok else 0.0, "label": "match" if ok else "no_match"}


async def nothing_async(payload: Any) -> None:
    return None
