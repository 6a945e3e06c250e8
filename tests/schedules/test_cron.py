"""Cron expressions: the accepted forms, bad input, and ticks across DST changes (Europe/Berlin, 2026)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runyard import cron

BERLIN = cron.zone("Europe/Berlin")


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1_000_000)


def wall(*args: int) -> int:
    return utc(*args)  # a tick key is the local wall time read as if it were UTC


def ticks(expr: str, after_local: tuple[int, ...], n: int, tz: str = "Europe/Berlin") -> list[cron.Tick]:
    it = cron.parse(expr).ticks_after(wall(*after_local), cron.zone(tz))
    return [next(it) for _ in range(n)]


@pytest.mark.parametrize(
    ("expr", "after", "first_two"),
    [
        ("*/15 * * * *", (2026, 1, 5, 10, 7), [(2026, 1, 5, 10, 15), (2026, 1, 5, 10, 30)]),
        ("*/20 * * * * *", (2026, 1, 5, 10, 7), [(2026, 1, 5, 10, 7, 20), (2026, 1, 5, 10, 7, 40)]),
        ("@hourly", (2026, 1, 5, 10, 7), [(2026, 1, 5, 11), (2026, 1, 5, 12)]),
        ("@daily", (2026, 1, 5, 10, 7), [(2026, 1, 6), (2026, 1, 7)]),
        ("0 3 * * MON-FRI", (2026, 1, 9, 4), [(2026, 1, 12, 3), (2026, 1, 13, 3)]),
        ("@every 1h30m", (2026, 1, 5, 10, 0), [(2026, 1, 5, 11, 30), (2026, 1, 5, 13, 0)]),
    ],
)
def test_forms(expr: str, after: tuple[int, ...], first_two: list[tuple[int, ...]]) -> None:
    got = ticks(expr, after, 2, tz="UTC")
    assert [t.key for t in got] == [wall(*w) for w in first_two]
    assert [t.due for t in got] == [utc(*w) for w in first_two]
    assert not any(t.dst_skipped for t in got)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * *", "expected 5 fields"),
        ("* * * * * * *", "expected 5 fields"),
        ("61 * * * *", "Bad minute"),
        ("* 25 * * *", "Bad hour"),
        ("@fortnightly", "unknown macro"),
        ("@every", "empty"),
        ("@every 0s", "at least 1s"),
        ("@every soon", "cannot parse duration"),
        ("", "expected 5 fields"),
    ],
)
def test_bad_expressions_say_why(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match="invalid cron expression") as info:
        cron.parse(expr)
    assert message in str(info.value)


def test_unknown_time_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        cron.zone("Mars/Olympus")
    assert "Europe/Berlin" in cron.timezones() and "UTC" in cron.timezones()


def test_a_skipped_local_time_is_a_dst_skipped_tick_due_when_the_clock_jumps() -> None:
    # 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST (01:00 UTC); 02:30 does not exist that day.
    first, skipped, third = ticks("30 2 * * *", (2026, 3, 28, 0, 0), 3)
    assert (first.key, first.due, first.dst_skipped) == (wall(2026, 3, 28, 2, 30), utc(2026, 3, 28, 1, 30), False)
    assert (skipped.key, skipped.due, skipped.dst_skipped) == (wall(2026, 3, 29, 2, 30), utc(2026, 3, 29, 1), True)
    assert (third.key, third.due, third.dst_skipped) == (wall(2026, 3, 30, 2, 30), utc(2026, 3, 30, 0, 30), False)


def test_ticks_stay_in_order_through_the_gap() -> None:
    got = ticks("*/30 * * * *", (2026, 3, 29, 1, 0), 5)
    assert [t.dst_skipped for t in got] == [False, True, True, False, False]
    dues = [t.due for t in got]
    assert dues == sorted(dues)
    assert got[3].due == utc(2026, 3, 29, 1, 0)  # 03:00 CEST, the first real time after the jump


def test_a_repeated_local_time_runs_once() -> None:
    # 2026-10-25: Berlin goes from 03:00 CEST back to 02:00 CET; 02:00-02:59 happen twice.
    got = ticks("0 * * * *", (2026, 10, 25, 0, 30), 4)
    assert [t.key for t in got] == [wall(2026, 10, 25, h) for h in (1, 2, 3, 4)]
    assert [t.due for t in got] == [
        utc(2026, 10, 24, 23),
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 2),
        utc(2026, 10, 25, 3),
    ]
    # Asked for the first tick after 02:30 CET (the second 02:30, 01:30 UTC), it is 03:00, not 02:00 again.
    after_repeat = cron.parse("0 * * * *").first_after(utc(2026, 10, 25, 1, 30), BERLIN)
    assert after_repeat.due == utc(2026, 10, 25, 2)


def test_upcoming_leaves_out_skipped_times_and_describe_reads_well() -> None:
    spec = cron.parse("30 2 * * *")
    up = spec.upcoming(wall(2026, 3, 28, 2, 30), BERLIN, 3)
    assert [u.key for u in up] == [wall(2026, 3, 28, 2, 30), wall(2026, 3, 30, 2, 30), wall(2026, 3, 31, 2, 30)]
    assert cron.parse("0 3 * * *").describe() == "At 03:00 every day"
    assert cron.parse("@every 1h30m").describe() == "Every 1h30m"
