"""Durations as people write them: `90`, `1.5`, `30s`, `15m`, `1h42m`, `2d`, `2w`, `500ms`; absolute times.

Both are strict: ASCII digits only (a `³` or `٣` is not a number here), finite, and bounded, so that no
input reaches the store as infinity or as an integer SQLite cannot hold.
"""

from __future__ import annotations

import math
import re

MAX_DURATION_S = 3650 * 86400.0  # ten years: the bound of every duration and delay
MAX_TIME_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|w))+")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?|\.[0-9]+(?:e[+-]?[0-9]+)?")
_TOO_LONG = f"a duration must be at most {MAX_DURATION_S / 86400:.0f} days"


def _bounded(seconds: float) -> float:
    if not math.isfinite(seconds):
        raise ValueError("a duration must be a finite number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION_S:
        raise ValueError(_TOO_LONG)
    return seconds


def parse_duration(value: str | int | float) -> float:
    """Seconds in `value`. Raises ValueError with a clear message on anything else."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '1h42m'")
    if isinstance(value, int | float):
        if isinstance(value, int) and value > MAX_DURATION_S:
            raise ValueError(_TOO_LONG)
        return _bounded(float(value))
    text = value.strip().lower()
    if not text:
        raise ValueError("a duration cannot be empty")
    if len(text) > 64:
        raise ValueError("a duration is at most 64 characters")
    if _NUMBER.fullmatch(text):
        return _bounded(float(text))
    if text.startswith("-"):
        raise ValueError("a duration cannot be negative")
    if not _WHOLE.fullmatch(text):
        raise ValueError(
            f"cannot parse duration {value!r}: use a number of seconds or units like 30s, 15m, 1h42m, 2d, 2w"
        )
    return _bounded(sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text)))


def _time_in_range(us: int, value: object) -> int:
    if not 0 <= us <= MAX_TIME_US:
        raise ValueError(f"time {value!r} is out of range (1970-01-01 to 9999-12-31)")
    return us


def parse_time_us(value: str | int | float) -> int:
    """An absolute time: ISO 8601 / RFC 3339 (naive means UTC) or epoch milliseconds; microseconds UTC."""
    from datetime import UTC, datetime

    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"time {value!r} is not a finite number of milliseconds")
        if abs(value) > MAX_TIME_US:
            raise ValueError(f"time {value!r} is out of range (1970-01-01 to 9999-12-31)")
        return _time_in_range(int(value * 1000), value)
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        if len(text) > 18:
            raise ValueError(f"time {value!r} is out of range (1970-01-01 to 9999-12-31)")
        return _time_in_range(int(text) * 1000, value)
    if not text.isascii():
        raise ValueError(f"cannot parse time {value!r}: use an ISO 8601 date-time or epoch milliseconds")
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError):
        raise ValueError(f"cannot parse time {value!r}: use an ISO 8601 date-time or epoch milliseconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return _time_in_range(int(dt.timestamp() * 1_000_000), value)
    except (OverflowError, OSError):
        raise ValueError(f"time {value!r} is out of range (1970-01-01 to 9999-12-31)") from None


def parse_due_us(value: str | int | float, now: int) -> int:
    """When a delayed run is due, microseconds UTC: `now` plus a duration (`30s`, `90`, `1h`), or an ISO 8601
    date-time. A bare number is always seconds, never epoch milliseconds."""
    if isinstance(value, int | float) or _NUMBER.fullmatch(text := value.strip().lower()) or _WHOLE.fullmatch(text):
        return now + int(parse_duration(value) * 1_000_000)
    if text.startswith("-"):
        raise ValueError("a delay cannot be negative")
    try:
        return parse_time_us(value)
    except ValueError as exc:
        if "out of range" in str(exc):
            raise
    raise ValueError(f"cannot parse delay {value!r}: use a duration like 30s, 15m, 1h, 2w or an ISO 8601 date-time")
