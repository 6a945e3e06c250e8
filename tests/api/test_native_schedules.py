"""The native schedules API over HTTP: create (deduplicated), list, get, update, (de)activate, delete, errors,
and a schedule made over the API that fires runs."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.conftest import LiveServer

CONFIG = """
[tasks.job]
noop = true

[tasks.nightly]
noop = true
cron = "30 2 * * *"
timezone = "Europe/Berlin"
"""


def test_native_schedules(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        body = {"task": "job", "cron": "*/2 * * * * *", "external_id": "u1", "deduplication_key": "k"}
        made = c.post("/v1/schedules", json=body)
        assert made.status_code == 201, made.text
        s = made.json()
        assert (s["cron"], s["timezone"], s["active"], s["declarative"]) == ("*/2 * * * * *", "UTC", True, False)
        assert len(s["upcoming"]) == 5 and s["next_run_at"] == s["upcoming"][0]
        again = c.post("/v1/schedules", json={**body, "cron": "*/1 * * * * *"})
        assert again.status_code == 200 and again.json()["id"] == s["id"] and again.json()["cron"] == "*/1 * * * * *"

        listed = c.get("/v1/schedules").json()
        assert listed["total"] == 2 and {x["task"] for x in listed["schedules"]} == {"job", "nightly"}
        nightly = next(x for x in listed["schedules"] if x["declarative"])
        assert nightly["description"] == "At 02:30 every day" and nightly["timezone"] == "Europe/Berlin"
        assert c.delete(f"/v1/schedules/{nightly['id']}").status_code == 400

        deadline = time.monotonic() + 15  # the schedule fires: cron runs of `job`
        while not [r for r in c.get("/v1/runs", params={"task": "job"}).json()["runs"] if r["triggered_by"] == "cron"]:
            assert time.monotonic() < deadline, "no cron run of the schedule"
            time.sleep(0.2)

        off = c.post(f"/v1/schedules/{s['id']}/deactivate").json()
        assert off["active"] is False and "next_run_at" not in off and off["upcoming"] == []
        assert c.post(f"/v1/schedules/{s['id']}/activate").json()["active"] is True
        moved = c.put(f"/v1/schedules/{s['id']}", json={"task": "job", "cron": "@daily", "timezone": "Asia/Tokyo"})
        assert moved.status_code == 200 and moved.json()["next_run_at"].endswith("T15:00:00.000000Z")

        for bad, status, where in [
            ({"task": "job", "cron": "* * *"}, 400, "invalid cron expression"),
            ({"task": "job", "cron": "@hourly", "timezone": "Nowhere/Land"}, 400, "unknown time zone"),
            ({"task": "ghost", "cron": "@hourly"}, 404, "not found"),
            ({"task": "job", "cron": "@hourly", "colour": "red"}, 422, "colour"),
            ({"task": "job"}, 422, "cron"),
        ]:
            resp = c.post("/v1/schedules", json=bad)
            assert resp.status_code == status and where in resp.json()["detail"], (bad, resp.text)
            assert resp.headers["content-type"].startswith("application/problem+json")
        assert c.get("/v1/schedules").json()["total"] == 2  # nothing was created
        assert c.get("/v1/schedules/nope").status_code == 404
        assert c.get("/v1/schedules", params={"limit": 0}).status_code == 422

        gone = c.delete(f"/v1/schedules/{s['id']}")
        assert gone.status_code == 200 and c.get(f"/v1/schedules/{s['id']}").status_code == 404
