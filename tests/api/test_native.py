"""The native /v1 API over real HTTP: trigger -> get -> list with cursors -> cancel -> replay -> logs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import LiveServer

CONFIG = """
[server]
poll_interval = "0.05s"

[tasks.add]
python = "tests.worker.tasks_for_tests:add"

[tasks.talk]
run = "echo one; echo two"

[tasks.held]
noop = true
queue = { name = "held", concurrency = 0 }
"""


@pytest.fixture
def srv(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(CONFIG)


def test_trigger_get_output_and_attempts(srv: LiveServer) -> None:
    with srv.client() as c:
        resp = c.post("/v1/tasks/add/trigger", json={"payload": {"a": 2, "b": 5}, "tags": ["t1"]})
        assert resp.status_code == 201
        body = resp.json()
        assert body["cached"] is False and body["run"]["payload"] == {"a": 2, "b": 5}
        run = srv.wait_for(body["run"]["id"], lambda r: r["status"] == "completed")
        assert run["output"] == 7 and run["tags"] == ["t1"] and run["attempt_count"] == 1
        assert run["attempts"][0]["status"] == "completed"


def test_a_held_run_says_why_it_waits(srv: LiveServer) -> None:
    with srv.client() as c:
        run = c.post("/v1/tasks/held/trigger", json={}).json()["run"]
        assert "waiting" not in run  # the list and trigger views stay small
        assert "concurrency limit of 0" in c.get(f"/v1/runs/{run['id']}").json()["waiting"]


def test_request_idempotency_key_returns_the_same_run(srv: LiveServer) -> None:
    with srv.client() as c:
        first = c.post("/v1/tasks/held/trigger", json={}, headers={"Idempotency-Key": "abc"})
        again = c.post("/v1/tasks/held/trigger", json={}, headers={"Idempotency-Key": "abc"})
        assert first.status_code == 201 and again.status_code == 200
        assert again.json()["cached"] is True and again.json()["run"]["id"] == first.json()["run"]["id"]


def test_list_pages_with_cursors_and_filters(srv: LiveServer) -> None:
    with srv.client() as c:
        ids = [c.post("/v1/tasks/held/trigger", json={"tags": [f"n{i}"]}).json()["run"]["id"] for i in range(5)]
        page = c.get("/v1/runs", params={"limit": 2}).json()
        assert [r["id"] for r in page["runs"]] == ids[::-1][:2]
        page2 = c.get("/v1/runs", params={"limit": 2, "after": page["next_cursor"]}).json()
        assert [r["id"] for r in page2["runs"]] == ids[::-1][2:4]
        back = c.get("/v1/runs", params={"limit": 2, "before": page2["prev_cursor"]}).json()
        assert [r["id"] for r in back["runs"]] == ids[::-1][:2]
        assert [r["id"] for r in c.get("/v1/runs", params={"tag": "n3"}).json()["runs"]] == [ids[3]]
        assert len(c.get("/v1/runs", params={"status": "queued", "task": "held"}).json()["runs"]) == 5
        assert c.get("/v1/runs", params={"status": "bogus"}).status_code == 422
        assert c.get("/v1/runs", params={"limit": 0}).status_code == 422


def test_cancel_and_replay(srv: LiveServer) -> None:
    with srv.client() as c:
        run = c.post("/v1/tasks/held/trigger", json={"payload": [1]}).json()["run"]
        canceled = c.post(f"/v1/runs/{run['id']}/cancel").json()
        assert canceled["status"] == "canceled" and canceled["end_reason"] == "stopped"
        replay = c.post(f"/v1/runs/{run['id']}/replay")
        assert replay.status_code == 201
        new = replay.json()["run"]
        assert new["replay_of"] == run["id"] and new["payload"] == [1] and new["triggered_by"] == "replay"
        assert c.post("/v1/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel").status_code == 404


def test_logs_follow_with_after(srv: LiveServer) -> None:
    with srv.client() as c:
        run = c.post("/v1/tasks/talk/trigger", json={}).json()["run"]
        srv.wait_for(run["id"], lambda r: r["status"] == "completed")
        page = c.get(f"/v1/runs/{run['id']}/logs", params={"limit": 1}).json()
        assert [ln["text"] for ln in page["lines"]] == ["one"] and page["finished"] is False
        rest = c.get(f"/v1/runs/{run['id']}/logs", params={"after": page["next_after"]}).json()
        assert [ln["text"] for ln in rest["lines"]] == ["two"] and rest["finished"] is True


@pytest.mark.parametrize(
    "body, status",
    [
        (b"{bad", 400),
        (b'{"tags": "x"}', 422),
        (b'{"colour": 1}', 422),
        (b'{"delay": "soon"}', 422),
        (b'{"ttl": -5}', 422),
        (b'{"ttl": "0s"}', 422),
        (b'{"max_attempts": 0}', 400),
        (b'{"priority": "high"}', 422),
    ],
)
def test_bad_trigger_bodies(srv: LiveServer, body: bytes, status: int) -> None:
    with srv.client() as c:
        resp = c.post("/v1/tasks/held/trigger", content=body, headers={"content-type": "application/json"})
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert c.get("/v1/runs").json()["runs"] == []


def test_tasks_queues_and_unknown_task(srv: LiveServer) -> None:
    with srv.client() as c:
        assert [t["name"] for t in c.get("/v1/tasks").json()["tasks"]] == ["add", "evaluations", "held", "talk"]
        queues = {q["name"]: q["concurrency_limit"] for q in c.get("/v1/queues").json()["queues"]}
        assert queues["held"] == 0
        missing = c.post("/v1/tasks/nope/trigger", json={})
        assert missing.status_code == 404 and "not found" in missing.json()["detail"]
