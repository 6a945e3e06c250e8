"""RunWisp's controls over HTTP: restart and stop of a service (its replicas stop, stay stopped, and start
again) and of a task (live runs canceled, queued ones dropped, one fresh run), and bulk stop by ids and by
selector."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.conftest import LiveServer

CONFIG = """
[services.web]
run = "sleep 300"
instances = 2
graceful_stop = "0.5s"

[tasks.slow]
run = "sleep 300"
graceful_stop = "0.5s"
max_concurrent = 1

[tasks.other]
run = "sleep 300"
graceful_stop = "0.5s"
"""


def _live(c: Any, task: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = c.get("/api/runs", params={"taskName": task, "status": "pending,running"}).json()[
        "items"
    ]
    return runs


def _until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_service_stops_stays_stopped_and_restarts(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        _until(lambda: sum(r["status"] == "running" for r in _live(c, "web")) == 2, "the replicas did not start")
        first = {r["id"] for r in _live(c, "web")}
        assert c.post("/api/tasks/web/stop").status_code == 204
        _until(lambda: not _live(c, "web"), "the stopped service still runs")
        time.sleep(1.0)  # no refilling while stopped
        assert _live(c, "web") == []
        assert c.post("/api/tasks/web/restart").status_code == 204
        _until(lambda: len(_live(c, "web")) == 2, "the restarted service has no replicas")
        assert not first & {r["id"] for r in _live(c, "web")}
        ended = c.get("/api/runs", params={"taskName": "web", "status": "stopped"}).json()["items"]
        assert {r["id"] for r in ended} >= first
        assert c.post("/api/tasks/nope/restart").status_code == 404
        assert c.post("/api/tasks/bad name/stop").status_code == 422


def test_a_task_restart_cancels_its_runs_and_starts_one(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        ids = [c.post("/api/tasks/slow/run").json()["id"] for _ in range(3)]  # one runs, two wait (max 1)
        _until(lambda: any(r["status"] == "running" for r in _live(c, "slow")), "the first run did not start")
        assert c.post("/api/tasks/slow/restart", params={"via": "cli"}).status_code == 204
        live = _live(c, "slow")
        assert len(live) == 1 and live[0]["id"] not in ids and live[0]["triggered_by"] == "cli"
        assert all(c.get(f"/api/runs/{i}").json()["end_reason"] == "stopped" for i in ids)
        assert c.post("/api/tasks/slow/stop").status_code == 204
        _until(lambda: not _live(c, "slow"), "the stopped task still has live runs")


def test_bulk_stop_by_ids_and_by_selector(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        slow = [c.post("/api/tasks/slow/run").json()["id"] for _ in range(3)]
        other = [c.post("/api/tasks/other/run").json()["id"] for _ in range(2)]
        one = c.post("/api/runs/bulk/stop", json={"ids": [slow[0], slow[0].lower(), "01ARZ3NDEKTSV4RRFFQ69G5FAV"]})
        assert one.status_code == 200 and one.json() == {"affected": 1}
        assert c.post("/api/runs/bulk/stop", json={"ids": [slow[0]]}).json() == {"affected": 0}  # already ended
        kept = slow[2]
        some = c.post("/api/runs/bulk/stop", json={"match_all": True, "filter": {"task_name": "slow"},
                                                   "except_ids": [kept]})  # fmt: skip
        assert some.json() == {"affected": 1}
        assert c.get(f"/api/runs/{kept}").json()["status"] != "ended"
        _until(lambda: len(_live(c, "web")) == 2, "the service's replicas did not start")
        rest = c.post("/api/runs/bulk/stop", json={"match_all": True, "filter": {"status": "pending,running"}})
        assert rest.json() == {"affected": 5}  # kept, the two others, and the service's two replicas
        assert all(c.get(f"/api/runs/{i}").json()["status"] == "ended" for i in [*slow, *other])
        assert c.post("/api/runs/bulk/stop", json={"match_all": True, "filter": {"status": "bogus"}}).json() == {
            "affected": 0}  # fmt: skip
        for body in ({}, {"match_all": True, "ids": [kept]}, {"ids": [kept], "except_ids": [kept]}, {"idz": []}):
            bad = c.post("/api/runs/bulk/stop", json=body)
            assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json", body
