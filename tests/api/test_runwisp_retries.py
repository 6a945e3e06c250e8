"""RunWisp's retries: each retry is a run of its own whose `retry_of_run_id` names the run before it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.api.test_runwisp_streams import collect, later
from tests.conftest import LiveServer

CONFIG = """
[server]
poll_interval = "0.05s"

[tasks.flaky]
run = 'echo "try $RUNYARD_ATTEMPT"; test "$RUNYARD_ATTEMPT" = 3 || exit 5'
retry_attempts = 2
retry_delay = "0.05s"

[tasks.hopeless]
run = "exit 9"
retry_attempts = 1
retry_delay = "0.05s"
"""


def _chain(srv: LiveServer, task: str, length: int) -> list[dict[str, Any]]:
    """The task's runs oldest first, once `length` of them have ended."""
    with srv.client() as c:
        for _ in range(500):
            runs: list[dict[str, Any]] = c.get("/api/runs", params={"taskName": task, "limit": 10}).json()["items"]
            if len(runs) >= length and all(r["status"] == "ended" for r in runs):
                return sorted(runs, key=lambda r: str(r["created_at"]))
            time.sleep(0.02)
    raise AssertionError(f"the runs of {task} did not end")


def test_each_retry_is_a_new_run_that_names_the_one_before(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        first = c.post("/api/tasks/flaky/run", params={"via": "cli", "wait": "true"})
        assert first.status_code == 201, first.text
        # wait=true answers with the first run: it failed; its retries are runs of their own
        assert first.json()["end_reason"] == "failed" and first.json()["exit_code"] == 5
        runs = _chain(srv, "flaky", 3)
        assert [r["retry_attempt"] for r in runs] == [0, 1, 2]
        assert [r.get("retry_of_run_id") for r in runs] == [None, runs[0]["id"], runs[1]["id"]]
        assert [r["end_reason"] for r in runs] == ["failed", "failed", "success"]
        assert {r["triggered_by"] for r in runs} == {"cli"}  # retries keep the original's trigger
        assert runs[0]["id"] == first.json()["id"]
        log = c.get(f"/api/runs/{runs[2]['id']}/log").json()
        assert [line["text"] for line in log["lines"]] == ["try 3"]
        retried = c.get("/api/runs", params={"retriesOnly": "true"}).json()["items"]
        assert {r["id"] for r in retried} == {runs[1]["id"], runs[2]["id"]}
        assert c.get("/api/tasks/flaky").json()["retry_attempts"] == 2

        c.post("/api/tasks/hopeless/run")
        hopeless = _chain(srv, "hopeless", 2)
        assert [r["retry_attempt"] for r in hopeless] == [0, 1]
        assert [r["end_reason"] for r in hopeless] == ["failed", "failed"]  # the last retry is the last run
        time.sleep(0.3)
        assert len(c.get("/api/runs", params={"taskName": "hopeless"}).json()["items"]) == 2
        native = c.get(f"/v1/runs/{hopeless[1]['id']}").json()
        assert native["retry_of"] == hopeless[0]["id"]


def test_the_event_feed_shows_the_failed_run_then_the_run_that_retries_it(
    live_server: Callable[..., LiveServer],
) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        trigger = later(lambda: c.post("/api/tasks/hopeless/run"))
        got = collect(srv, 6)
        trigger.join()
    assert [f["event"] for f in got] == [
        "run.created", "run.started", "run.failed", "run.created", "run.started", "run.failed",
    ]  # fmt: skip
    first, retry = got[0]["data"]["run"], got[3]["data"]["run"]
    assert retry["retry_of_run_id"] == first["id"] and retry["retry_attempt"] == 1 and retry["status"] == "pending"
    assert got[5]["data"]["run"]["id"] == retry["id"]
