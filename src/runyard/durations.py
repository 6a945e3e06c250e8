"""Durations as people write them: `90`, `1.5`, `30s`, `15m`, `1h42m`, `2d`, `2w`, `500ms`."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")


def parse_duration(value: str | int | float) -> float:
    """Seconds in `value`. Raises ValueError with a clear message on anything else."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a string like '1h42m'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = value.strip().lower()
    if not text:
        raise ValueError("a duration cannot be empty")
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise ValueError("a duration cannot be negative")
        return seconds
    if not _WHOLE.match(text):
        raise ValueError(
            f"cannot parse duration {value!r}: use a number of seconds or units like 30s, 15m, 1h42m, 2d, 2w"
        )
    return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))


def parse_time_us(value: str | int | float) -> int:
    """An absolute time: ISO 8601 / RFC 3339 (naive means UTC) or epoch milliseconds; microseconds UTC."""
    from datetime import UTC, datetime

    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 1000)
    text = str(value).strip()
    if text.isdigit():
        return int(text) * 1000
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot parse time {value!r}: use an ISO 8601 date-time or epoch milliseconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1_000_000)
