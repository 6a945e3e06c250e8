"""RunWisp's run listing query (exit codes, retries, failures, search, sort) and `GET /api/runs/summary`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import LiveServer

CONFIG = """
[server]
poll_interval = "0.05s"

[tasks.alpha]
run = "exit 0"

[tasks.beta-fails]
run = "exit 4"

[tasks.gamma-retried]
run = 'test "$RUNYARD_ATTEMPT" = 2 || exit 7'
retry = { attempts = 2, min = "0.05s", max = "0.05s" }
"""


@pytest.fixture
def srv(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(CONFIG)


def _ended(srv: LiveServer, run_id: str) -> dict[str, Any]:
    with srv.client() as c:
        for _ in range(500):
            run: dict[str, Any] = c.get(f"/api/runs/{run_id}").json()
            if run["status"] == "ended":
                return run
            time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not end")


def test_filters_sort_and_summary(srv: LiveServer) -> None:
    with srv.client() as c:
        ids = {name: c.post(f"/api/tasks/{name}/run").json()["id"] for name in ("alpha", "beta-fails", "gamma-retried")}
        runs = {name: _ended(srv, run_id) for name, run_id in ids.items()}
        assert runs["gamma-retried"]["retry_attempt"] == 1 and runs["gamma-retried"]["end_reason"] == "success"

        def names(**params: Any) -> list[str]:
            resp = c.get("/api/runs", params=params)
            assert resp.status_code == 200, resp.text
            return [r["task_name"] for r in resp.json()["items"]]

        assert names(exitCodeMin=1) == ["beta-fails"]
        assert sorted(names(exitCodeMax=0)) == ["alpha", "gamma-retried"]
        assert names(retriesOnly="true") == ["gamma-retried"]
        assert names(isFailure="true") == ["beta-fails"]
        assert sorted(names(isFailure="false")) == ["alpha", "gamma-retried"]
        assert names(search="FAIL") == ["beta-fails"]
        assert names(search=ids["alpha"].lower()) == ["alpha"]
        assert names(sortField="taskName", sortDirection="asc") == ["alpha", "beta-fails", "gamma-retried"]
        assert names(sortField="exitCode", sortDirection="desc")[0] == "beta-fails"
        assert names(sortField="createdAt", sortDirection="asc", limit=2, offset=1) == ["beta-fails", "gamma-retried"]
        assert c.get("/api/runs", params={"sortField": "color"}).status_code == 422
        assert c.get("/api/runs", params={"sortDirection": "up"}).status_code == 422
        assert c.get("/api/runs", params={"exitCodeMin": "x"}).status_code == 422
        assert c.get("/api/runs", params={"isFailure": "maybe"}).status_code == 422

        summary = c.get("/api/runs/summary").json()
        assert {k: summary[k] for k in ("total", "success", "failed", "missed")} == {
            "total": 3, "success": 2, "failed": 1, "missed": 0,
        }  # fmt: skip
        assert summary["lastFailure"]["id"] == ids["beta-fails"]
