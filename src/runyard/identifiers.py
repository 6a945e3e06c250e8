"""Bounds on the names and keys that clients choose: queue names, concurrency and idempotency keys, tags.

Each is checked once, in the engine, so every dialect answers the same way: a clear 400 that names the
field, never a NUL byte or a megabyte-long key in the store.
"""

from __future__ import annotations

import re

from runyard.errors import BadRequest

MAX_QUEUE_NAME = 128
MAX_CONCURRENCY_KEY = 256
MAX_IDEMPOTENCY_KEY = 512
MAX_TAG = 128
MAX_TASK_NAME = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def problem(value: str, max_length: int) -> str | None:
    """Why `value` is not acceptable as an identifier of at most `max_length` characters, or None."""
    if len(value) > max_length:
        return f"is {len(value)} characters long; the limit is {max_length}"
    found = _CONTROL.search(value)
    if found:
        return f"contains the control character U+{ord(found.group()):04X} at position {found.start()}"
    return None


def check(field: str, value: str | None, max_length: int, *, allow_empty: bool = True) -> None:
    """Raise BadRequest naming `field` when `value` is too long, has control characters, or is empty where
    that is not allowed."""
    if value is None:
        return
    if not value and not allow_empty:
        raise BadRequest(f"{field} cannot be empty")
    why = problem(value, max_length)
    if why:
        raise BadRequest(f"{field} {why}")


def check_tags(tags: list[str]) -> None:
    for tag in tags:
        check("a tag", tag, MAX_TAG, allow_empty=False)
