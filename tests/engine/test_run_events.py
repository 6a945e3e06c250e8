"""The typed run-event log: kinds, numbering, replay after an id, gaps, and slow subscribers."""

from __future__ import annotations

import pytest

from runyard.events import EventBus
from runyard.models import Run, RunStatus
from runyard.run_events import Gap, RunEvent, RunEventKind, RunEventLog


def run(i: int = 0) -> Run:
    return Run(id=f"r{i}", task="t", status=RunStatus.QUEUED, queue="q")


def test_bus_events_become_typed_numbered_events() -> None:
    bus = EventBus()
    sub = bus.runs.subscribe()
    for kind in ("created", "started", "retrying", "timed_out", "canceled", "completed", "not-a-run-event"):
        bus.publish(kind, run())
    kinds = [e.kind for e in list(bus.runs._kept)]
    assert kinds == [RunEventKind.CREATED, RunEventKind.STARTED, RunEventKind.UPDATED, RunEventKind.FAILED,
                     RunEventKind.CANCELED, RunEventKind.COMPLETED]  # fmt: skip
    ids = [e.id for e in bus.runs._kept]
    assert ids == list(range(ids[0], ids[0] + 6)) and bus.runs.last_id == ids[-1]
    sub.close()


async def test_replay_after_an_id_then_live_then_timeout() -> None:
    log = RunEventLog()
    first = log.record("created", run(1))
    second = log.record("started", run(1))
    assert first is not None and second is not None
    sub = log.subscribe(after=first.id)
    got = await sub.get(1)
    assert isinstance(got, RunEvent) and got.id == second.id
    log.record("completed", run(1))
    live = await sub.get(1)
    assert isinstance(live, RunEvent) and live.kind is RunEventKind.COMPLETED
    assert await sub.get(0.01) is None  # quiet: the caller sends a ping
    sub.close()


async def test_an_old_resume_point_reports_a_gap_then_what_is_kept() -> None:
    log = RunEventLog(keep=3)
    events = [log.record("created", run(i)) for i in range(5)]
    sub = log.subscribe(after=1)  # an id from before this log's numbering began
    gap = await sub.get(1)
    assert isinstance(gap, Gap) and gap.last_id == 1
    kept = [await sub.get(1) for _ in range(3)]
    assert [e.id for e in kept if isinstance(e, RunEvent)] == [e.id for e in events[2:] if e is not None]


async def test_a_subscriber_that_falls_too_far_behind_is_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    from runyard import run_events

    monkeypatch.setattr(run_events, "SUBSCRIBER_BACKLOG", 2)
    log = RunEventLog()
    sub = log.subscribe()
    for i in range(4):
        log.record("created", run(i))
    assert isinstance(await sub.get(1), RunEvent) and isinstance(await sub.get(1), RunEvent)
    with pytest.raises(EOFError):
        await sub.get(1)
