"""Tasks the benchmark runs."""

from __future__ import annotations

import asyncio
from typing import Any


def nothing(payload: Any) -> None:
    return None


async def brief_sleep(payload: Any) -> None:
    await asyncio.sleep(0.02)
