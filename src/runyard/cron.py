"""Cron expressions and their ticks in a time zone.

Accepted forms (RunWisp's): five fields (`*/5 * * * *`), six fields with seconds first (`*/10 * * * * *`),
macros (`@hourly`, `@daily`, ...), and intervals (`@every 1h30m`). The fields are parsed and matched by
cronsim; this module adds the macros, intervals and time zones.

Ticks are computed in local wall time and then placed on the UTC time line with zoneinfo:
- a wall time the clock skips (spring forward) is a tick marked `dst_skipped`, due when the clock jumps;
- a wall time the clock shows twice (fall back) is one tick, at its first occurrence.
Each tick has a `key`: its wall time as microseconds since the epoch read as UTC. Keys grow strictly
along a schedule and are unique per schedule, also across DST changes, so (schedule, key) names one tick.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from runyard.durations import parse_duration

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MIN_INTERVAL_S = 1.0
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Tick:
    key: int  # local wall time, microseconds since the epoch read as UTC: unique per schedule
    due: int  # when it fires, microseconds UTC
    dst_skipped: bool = False  # the wall time does not exist on that day: reported, not run


def _wall_us(dt: datetime) -> int:
    return (dt.replace(tzinfo=None) - _EPOCH) // timedelta(microseconds=1)


def _wall(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _utc_us(dt: datetime) -> int:
    return (dt.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@functools.lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The time zone `name` (IANA), or ValueError naming it."""
    if not name or name != name.strip():
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name like 'Europe/Berlin' or 'UTC'") from None


@functools.lru_cache(maxsize=1)
def timezones() -> list[str]:
    """Every IANA time zone name this machine knows, sorted."""
    return sorted(available_timezones() | {"UTC"})


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


class CronSpec:
    """A parsed schedule expression. Raises ValueError with a clear message when it is not valid."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        text = " ".join(expression.split())
        self.interval_s: float | None = None
        self.fields: str | None = None
        if text.lower().startswith("@every"):
            rest = text[len("@every") :].strip()
            try:
                seconds = parse_duration(rest)
            except ValueError as exc:
                raise ValueError(f"invalid cron expression {expression!r}: {exc}") from None
            if seconds < MIN_INTERVAL_S:
                raise ValueError(f"invalid cron expression {expression!r}: @every needs at least 1s")
            self.interval_s = seconds
            return
        if text.startswith("@"):
            fields = MACROS.get(text.lower())
            if fields is None:
                known = ", ".join([*MACROS, "@every <duration>"])
                raise ValueError(f"invalid cron expression {expression!r}: unknown macro (use one of {known})")
            text = fields
        if len(text.split()) not in (5, 6):
            raise ValueError(
                f"invalid cron expression {expression!r}: expected 5 fields (minute hour day month weekday), "
                "6 with seconds first, a macro like @hourly, or @every <duration>"
            )
        try:
            CronSim(text, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise ValueError(f"invalid cron expression {expression!r}: {exc}") from None
        self.fields = text

    def describe(self) -> str:
        """The expression in words ("At 03:00", "Every 1h30m")."""
        if self.interval_s is not None:
            return f"Every {self.expression.split(None, 1)[1].strip()}"
        assert self.fields is not None
        try:
            return str(CronSim(self.fields, datetime(2000, 1, 1)).explain())
        except Exception:  # explain() covers fewer forms than matching does
            return self.expression

    def ticks_after(self, after_key: int, tz: ZoneInfo) -> Iterator[Tick]:
        """Ticks with a key greater than `after_key`, in order (endless)."""
        if self.interval_s is not None:  # intervals run on the UTC time line, whatever the zone
            step = int(self.interval_s * 1_000_000)
            key = after_key + step
            while True:
                yield Tick(key=key, due=key)
                key += step
        assert self.fields is not None
        for naive in CronSim(self.fields, _wall(after_key)):
            key = _wall_us(naive)
            if key <= after_key:
                continue
            if _exists(naive, tz):
                yield Tick(key=key, due=_utc_us(naive.replace(tzinfo=tz, fold=0)))
            else:
                yield Tick(key=key, due=_gap_end(naive, tz), dst_skipped=True)

    def ticks_from(self, cursor: int, tz: ZoneInfo) -> Iterator[Tick]:
        """The ticks of a schedule whose cursor (the next tick's key) is `cursor`, starting with that tick."""
        if self.interval_s is not None:
            return self.ticks_after(cursor - int(self.interval_s * 1_000_000), tz)
        return self.ticks_after(cursor - 1, tz)

    def first_after(self, utc_us: int, tz: ZoneInfo) -> Tick:
        """The first tick due after the instant `utc_us`."""
        instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=utc_us)
        if self.interval_s is not None:
            return next(self.ticks_after(utc_us, tz))
        local = instant.astimezone(tz)
        for tick in self.ticks_after(_wall_us(local) - (1 if local.fold else 0), tz):
            if tick.due > utc_us:
                return tick
        raise AssertionError("unreachable: ticks are endless")  # pragma: no cover

    def upcoming(self, cursor: int, tz: ZoneInfo, count: int) -> list[Tick]:
        """The next `count` ticks that run (skipped local times left out), from the cursor on."""
        out: list[Tick] = []
        for tick in self.ticks_from(cursor, tz):
            if not tick.dst_skipped:
                out.append(tick)
            if len(out) >= count:
                break
        return out


def wall_key(utc_us: int, tz: ZoneInfo) -> int:
    """The tick key (local wall time) of the instant `utc_us` in `tz`."""
    return _wall_us((datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=utc_us)).astimezone(tz))


def _gap_end(naive: datetime, tz: ZoneInfo) -> int:
    """When the clock jumps over the skipped wall time `naive`: the first existing local minute after it."""
    probe = naive.replace(second=0, microsecond=0)
    for _ in range(24 * 60):
        probe += timedelta(minutes=1)
        if _exists(probe, tz):
            return _utc_us(probe.replace(tzinfo=tz, fold=0))
    raise ValueError(f"no valid local time follows {naive} in {tz}")  # pragma: no cover


@functools.lru_cache(maxsize=4096)
def parse(expression: str) -> CronSpec:
    """A cached parse: schedules share their specs."""
    return CronSpec(expression)


WINDOW = 8  # ticks computed at once per (expression, zone, cursor) and shared by every schedule at that cursor


@functools.lru_cache(maxsize=16384)
def _window(expression: str, timezone: str, cursor: int) -> tuple[Tick, ...]:
    return tuple(itertools.islice(parse(expression).ticks_from(cursor, zone(timezone)), WINDOW))


def ticks(expression: str, timezone: str, cursor: int) -> Iterator[Tick]:
    """The ticks from a schedule's cursor on (endless). Many schedules share an expression and a cursor (every
    `0 * * * *` schedule fires at the same instants), so the first ticks are computed once for all of them."""
    window = _window(expression, timezone, cursor)
    yield from window
    yield from parse(expression).ticks_after(window[-1].key, zone(timezone))


def upcoming(expression: str, timezone: str, cursor: int, count: int) -> list[Tick]:
    """The next `count` ticks that run (skipped local times left out), from the cursor on."""
    return list(itertools.islice((t for t in ticks(expression, timezone, cursor) if not t.dst_skipped), count))
