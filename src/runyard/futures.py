"""Settling the futures of a batch: each caller of a batched operation gets its own result or error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


def settle(items: Iterable[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """(future, ok, value): set `value` as the result if ok, else as the exception; a future already done (its
    caller gave up) is left alone."""
    for fut, ok, value in items:
        if fut.done():
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
