"""The RunWisp dialect over real HTTP, against the contract (runwisp-trigger-run.txt)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import LiveServer

CONFIG = """
[server]
poll_interval = "0.05s"

[tasks.hello]
run = "echo hello; echo oops >&2"

[tasks.fails]
run = "exit 4"

[tasks.sleepy]
run = "sleep 30"
graceful_stop = "0.2s"
"""
REQUIRED = {"created_at", "exit_code", "id", "replica_index", "retry_attempt", "status", "task_name", "triggered_by"}
ALLOWED = REQUIRED | {
    "$schema",
    "end_at",
    "end_reason",
    "external_execution_id",
    "retry_of_run_id",
    "start_at",
    "params",
}


@pytest.fixture
def srv(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(CONFIG)


def test_trigger_answers_201_with_the_pending_run(srv: LiveServer) -> None:
    with srv.client() as c:
        resp = c.post("/api/tasks/hello/run")
        assert resp.status_code == 201
        assert resp.headers["content-type"] == "application/json"
        run = resp.json()
        assert REQUIRED <= set(run) <= ALLOWED
        assert run["status"] in ("pending", "running")
        assert run["task_name"] == "hello" and run["triggered_by"] == "api"
        assert run["exit_code"] == 0 and run["retry_attempt"] == 0 and run["replica_index"] == 0
        assert run["$schema"].endswith("/schemas/Run.json")
        assert "end_at" not in run and "end_reason" not in run
        assert None not in run.values()
        assert run["created_at"].endswith("Z")
        # Readable at once, and it ends with success.
        assert c.get(f"/api/runs/{run['id']}").status_code == 200
        ended = c.post("/api/tasks/hello/run?wait=true&waitTimeout=10").json()
        assert ended["status"] == "ended" and ended["end_reason"] == "success" and ended["exit_code"] == 0
        assert "start_at" in ended and "end_at" in ended


@pytest.mark.parametrize("body", [b"", b"{}", b'{"params": {}}'])
def test_body_is_optional(srv: LiveServer, body: bytes) -> None:
    with srv.client() as c:
        assert c.post("/api/tasks/hello/run", content=body).status_code == 201


def test_failed_run_reports_its_exit_code(srv: LiveServer) -> None:
    with srv.client() as c:
        run = c.post("/api/tasks/fails/run?wait=true&waitTimeout=10").json()
    assert run["status"] == "ended" and run["end_reason"] == "failed" and run["exit_code"] == 4


def test_via_sets_triggered_by(srv: LiveServer) -> None:
    with srv.client() as c:
        assert c.post("/api/tasks/hello/run?via=cli").json()["triggered_by"] == "cli"


@pytest.mark.parametrize(
    "path, body, status, location",
    [
        ("/api/tasks/nope/run", b"", 404, None),
        ("/api/tasks/bad%20name/run", b"", 422, "path.taskName"),
        ("/api/tasks/bad!/run", b"", 422, "path.taskName"),
        ("/api/tasks/" + "x" * 101 + "/run", b"", 422, "path.taskName"),
        ("/api/tasks/hello/run?wait=maybe", b"", 422, "query.wait"),
        ("/api/tasks/hello/run?waitTimeout=0", b"", 422, "query.waitTimeout"),
        ("/api/tasks/hello/run?waitTimeout=241", b"", 422, "query.waitTimeout"),
        ("/api/tasks/hello/run?via=foo", b"", 422, "query.via"),
        ("/api/tasks/hello/run", b"{not json", 400, "body"),
        ("/api/tasks/hello/run", b'{"foo": 1}', 422, "body.foo"),
        ("/api/tasks/hello/run", b"[1]", 422, "body"),
        ("/api/tasks/hello/run", b'{"params": {"x": "1"}}', 400, None),
    ],
)
def test_bad_requests_get_problem_json(
    srv: LiveServer, path: str, body: bytes, status: int, location: str | None
) -> None:
    with srv.client() as c:
        resp = c.post(path, content=body)
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        problem = resp.json()
        assert problem["status"] == status and problem["title"] and problem["detail"]
        if location:
            assert problem["errors"][0]["location"] == location
        # nothing was created
        assert c.get("/api/runs").json()["total"] == 0


def test_unknown_task_detail(srv: LiveServer) -> None:
    with srv.client() as c:
        assert c.post("/api/tasks/nope/run").json()["detail"] == "task not found"


def test_other_methods_on_the_trigger_route_are_405(srv: LiveServer) -> None:
    with srv.client() as c:
        slash = c.post("/api/tasks/hello/run/")
        assert slash.status_code == 405 and slash.headers["allow"] == "POST"
        empty = c.post("/api/tasks//run")
        assert empty.status_code == 422 and empty.json()["errors"][0]["location"] == "path.taskName"
        for method in ("PUT", "DELETE"):
            resp = c.request(method, "/api/tasks/hello/run")
            assert resp.status_code == 405 and "POST" in resp.headers["allow"]


def test_stop_a_running_run_and_not_a_pending_or_ended_one(srv: LiveServer) -> None:
    with srv.client() as c:
        run = c.post("/api/tasks/sleepy/run").json()
        srv.wait_for(run["id"], lambda r: r["status"] == "executing")
        assert c.post(f"/api/runs/{run['id']}/stop").status_code == 204
        srv.wait_for(run["id"], lambda r: r["status"] == "canceled")
        stopped = c.get(f"/api/runs/{run['id']}").json()
        assert stopped["status"] == "ended" and stopped["end_reason"] == "stopped" and stopped["exit_code"] == -1
        again = c.post(f"/api/runs/{run['id']}/stop")
        assert again.status_code == 400 and again.json()["detail"] == "run is not currently running"
        assert c.post("/api/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/stop").status_code == 404
        bad = c.post("/api/runs/not-a-ulid/stop")
        assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "path.runId"


def test_list_get_and_logs(srv: LiveServer) -> None:
    with srv.client() as c:
        ids = [c.post("/api/tasks/hello/run?wait=true&waitTimeout=10").json()["id"] for _ in range(3)]
        c.post("/api/tasks/fails/run?wait=true&waitTimeout=10")
        listing = c.get("/api/runs", params={"limit": 2}).json()
        assert listing["total"] == 4 and len(listing["items"]) == 2
        assert c.get("/api/runs", params={"taskName": "hello"}).json()["total"] == 3
        assert c.get("/api/runs", params={"status": "failed"}).json()["total"] == 1
        assert c.get("/api/runs", params={"status": "bogus"}).json() == {"items": [], "total": 0}
        assert [r["id"] for r in c.get("/api/runs", params={"offset": 1, "limit": 3}).json()["items"]] == ids[::-1]
        assert c.get("/api/runs", params={"limit": 0}).status_code == 422
        log = c.get(f"/api/runs/{ids[0]}/log").json()
        texts = {(ln["stream"], ln["text"]) for ln in log["lines"]}
        assert texts == {("stdout", "hello"), ("stderr", "oops")}
        assert log["totalLines"] == 2 and log["finalized"] is True
        assert c.get(f"/api/runs/{ids[0]}/log/raw").text.count("\n") == 2
        assert c.get("/api/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404


def test_tasks_and_schemas(srv: LiveServer) -> None:
    with srv.client() as c:
        names = [t["name"] for t in c.get("/api/tasks").json()["items"]]
        assert names == ["evaluations", "fails", "hello", "sleepy"]  # evaluations: where Avido and Arize runs go
        assert c.get("/api/tasks/hello").json()["run"].startswith("echo hello")
        assert c.get("/api/tasks/nope").status_code == 404
    import httpx

    schema = httpx.get(f"{srv.url}/schemas/Run.json").json()
    assert set(schema["required"]) == REQUIRED
    assert httpx.get(f"{srv.url}/schemas/ErrorModel.json").status_code == 200
