"""Python tasks used by the worker and API tests."""

from __future__ import annotations

import asyncio
from typing import Any


def add(payload: dict[str, int]) -> int:
    return payload["a"] + payload["b"]


async def echo(payload: Any) -> Any:
    return {"echo": payload}


def boom(payload: Any) -> None:
    raise ValueError("boom")


def unserializable(payload: Any) -> object:
    return object()


async def forever(payload: Any) -> None:
    await asyncio.sleep(3600)


def no_args() -> str:
    return "ok"


async def brief(payload: Any) -> None:
    await asyncio.sleep(0.03)


def sleep_sync(payload: Any) -> None:
    import time

    time.sleep(float(payload or 30))
