"""`manual_trigger = false`: every dialect's trigger is a 403 in its own shape, nothing is created, and the
task's schedule still runs it."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.conftest import LiveServer

CONFIG = """
[tasks.cron-only]
run = "echo tick"
cron = "* * * * * *"
manual_trigger = false
"""


def test_manual_trigger_false(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        runwisp = c.post("/api/tasks/cron-only/run")
        assert runwisp.status_code == 403 and runwisp.headers["content-type"].startswith("application/problem+json")
        assert runwisp.json()["detail"].startswith("manual_trigger is false: ")
        native = c.post("/v1/tasks/cron-only/trigger", json={})
        assert native.status_code == 403
        trigger_dev = c.post("/api/v1/tasks/cron-only/trigger", json={"payload": {}})
        assert trigger_dev.status_code == 403 and trigger_dev.json()["error"].startswith("manual_trigger is false")
        deadline = time.monotonic() + 15
        while True:
            runs = c.get("/api/runs", params={"taskName": "cron-only"}).json()["items"]
            if runs:
                break
            assert time.monotonic() < deadline, "the schedule did not run the task"
            time.sleep(0.2)
        assert {r["triggered_by"] for r in runs} == {"cron"}  # no manual trigger made a run
