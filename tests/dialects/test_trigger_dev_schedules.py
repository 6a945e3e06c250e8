"""Trigger.dev's schedules API over HTTP: the edges the SDK suite does not reach (its own cases are in
tests/sdk/sdk.test.mjs): bad bodies, unknown ids, open time zone list, schedules from runyard.toml."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import LiveServer

CONFIG = """
[tasks.job]
noop = true

[tasks.nightly]
noop = true
cron = "0 3 * * *"
timezone = "Europe/Berlin"
"""


def test_schedule_edges(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        listed = c.get("/api/v1/schedules", params={"perPage": 100}).json()
        assert listed["pagination"] == {"currentPage": 1, "totalPages": 1, "count": 1}
        declared = listed["data"][0]
        assert (declared["type"], declared["task"], declared["timezone"]) == ("DECLARATIVE", "nightly", "Europe/Berlin")
        assert "deduplicationKey" not in declared and declared["nextRun"].endswith("Z")
        for method, path in (("DELETE", ""), ("PUT", ""), ("POST", "/deactivate")):
            body = {"task": "nightly", "cron": "@hourly"} if method == "PUT" else None
            resp = c.request(method, f"/api/v1/schedules/{declared['id']}{path}", json=body)
            assert resp.status_code == 400 and "runyard.toml" in resp.json()["error"], (method, resp.text)

        cases = [
            (b"{", 400, "not valid JSON"),
            (b'{"task": "job", "cron": "@hourly"}', 400, "deduplicationKey"),
            (b'{"task": "job", "cron": "@hourly", "deduplicationKey": "k", "color": "red"}', 400, "color"),
            (b'{"task": "job", "cron": "@hourly", "deduplicationKey": "k", "window": "30m"}', 400, "window"),
            (b'{"task": "job", "cron": "* * *", "deduplicationKey": "k"}', 400, "invalid cron expression"),
            (b'{"task": "job", "cron": "@every 1h30m", "deduplicationKey": ""}', 400, "deduplicationKey"),
        ]
        for body, status, words in cases:
            resp = c.post("/api/v1/schedules", content=body, headers={"content-type": "application/json"})
            assert resp.status_code == status and words in resp.json()["error"], (body, resp.text)
        assert c.get("/api/v1/schedules").json()["pagination"]["count"] == 1  # nothing was created

        made = c.post("/api/v1/schedules", json={"task": "job", "cron": "@every 1h30m", "deduplicationKey": "k"})
        assert made.status_code == 200 and made.json()["generator"]["description"] == "Every 1h30m"
        assert c.get("/api/v1/schedules", params={"perPage": 0}).status_code == 400
        for bad_id in ("sched_nope", "sched_" + "0" * 26):
            resp = c.get(f"/api/v1/schedules/{bad_id}")
            assert resp.status_code == 404 and resp.json() == {"error": "Schedule not found"}
    assert httpx.get(f"{srv.url}/api/v1/schedules").status_code == 401
    zones = httpx.get(f"{srv.url}/api/v1/timezones")  # no key, as on Trigger.dev
    assert zones.status_code == 200 and "Europe/Berlin" in zones.json()["timezones"]
