"""The crash soak, short: about 30 s of continuous triggers with a process SIGKILLed every ~3 s (`make soak`
runs the long version)."""

from __future__ import annotations

import pytest

from tests.acceptance.soak import soak

pytestmark = pytest.mark.slow


def test_short_soak_loses_nothing_and_never_runs_an_attempt_twice() -> None:
    report = soak(seconds=30, kill_every=3.0, seed=15)
    print("\n".join(report.lines()))
    assert report.kills >= 5 and report.accepted >= 100, report.lines()
    assert report.lost == [], f"acknowledged runs missing: {report.lost[:5]}"
    assert report.unfinished == [], f"runs that never ended: {report.unfinished[:5]}"
    assert report.double == [], f"runs executed twice at once: {report.double[:5]}"
    assert report.still_leased == 0
    assert report.lease_expiries > 0, "killed workers' attempts end through lease expiry"
