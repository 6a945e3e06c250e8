"""The evaluation API under /v1 over HTTP: datasets with versions, an evaluation run triggered as a task and
read back with its counts and item results; bad input is a problem+json 4xx with nothing created."""

from __future__ import annotations

from typing import Any

import httpx

S = "tests.evals.scorers_for_tests"


def test_datasets_and_an_evaluation_over_http(live_server: Any) -> None:
    srv = live_server("[tasks.grade]\nevaluation = { concurrency = 2 }\n")
    with srv.client() as c:
        made = c.post("/v1/datasets", json={"name": "qa ✓", "examples": [{"id": "a", "input": "q", "output": "A"}]})
        assert made.status_code == 201, made.text
        ds = made.json()
        assert (ds["version"], ds["example_count"]) == (1, 1)
        v2 = c.post(f"/v1/datasets/{ds['id']}/examples", json={"examples": [{"id": "b", "output": "b"}]}).json()
        assert (v2["version"], v2["example_count"]) == (2, 2)
        page = c.get(f"/v1/datasets/{ds['id']}/examples", params={"version": 1}).json()
        assert [e["example"]["id"] for e in page["examples"]] == ["a"] and page["version"] == 1
        two = c.get(f"/v1/datasets/{ds['id']}/examples", params={"limit": 1, "after": 0}).json()
        assert [e["example"]["id"] for e in two["examples"]] == ["b"]

        spec = {"items": [{"id": "x", "output": "YES"}, {"id": "y", "output": "no"}, {"id": "z"}],
                "evaluators": [{"type": "code", "name": "upper", "target": f"{S}:is_upper"}]}  # fmt: skip
        run_id = c.post("/v1/tasks/grade/trigger", json={"payload": spec}).json()["run"]["id"]
        assert srv.wait_for(run_id, lambda r: r["status"] not in ("queued", "executing"))["status"] == "completed"
        ev = c.get(f"/v1/runs/{run_id}/evaluation").json()
        assert ev["counts"] | {"score_sum": 0} == {
            "total": 3, "success": 2, "error": 0, "skipped": 1, "passed": 1, "score_sum": 0, "scored": 2,
        }  # fmt: skip
        assert [(r["item_id"], r["status"]) for r in ev["results"]] == [
            ("x", "success"),
            ("y", "success"),
            ("z", "skipped"),
        ]
        assert c.get(f"/v1/runs/{run_id}/evaluation", params={"after": 1}).json()["results"][0]["item_id"] == "z"

        for body, status in [({"name": ""}, 400), ({"name": "a\x00"}, 400), ({"name": "x" * 201}, 400),
                             ({"name": "qa ✓"}, 409), ({"name": 3}, 422), ({"name": "n", "extra": 1}, 422),
                             ({"name": "n", "examples": [{"id": "\x00"}]}, 400)]:  # fmt: skip
            response = c.post("/v1/datasets", json=body)
            assert response.status_code == status, (body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        assert c.get("/v1/datasets/nope").status_code == 404
        assert c.get(f"/v1/datasets/{ds['id']}/examples", params={"version": 3}).status_code == 404
        assert c.get(f"/v1/datasets/{ds['id']}/examples", params={"limit": "x"}).status_code == 400
        assert c.get("/v1/runs/nope/evaluation").status_code == 404
        assert c.post("/v1/datasets/nope/examples", json={"examples": []}).status_code == 404
        listed = c.get("/v1/datasets", params={"name": "QA"}).json()
        assert [d["id"] for d in listed["datasets"]] == [ds["id"]] and listed["total"] == 1
        assert c.get("/v1/datasets", params={"name": "zz"}).json() == {"datasets": [], "total": 0}
    bad = httpx.get(f"{srv.url}/v1/datasets/{ds['id']}", headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert bad.status_code == 401


def test_applications_are_listed_without_their_secrets(live_server: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("BOT_SECRET", "whsec_0123456789")
    srv = live_server('[[applications]]\nid = "bot"\ntitle = "Bot"\nwebhook_url = "http://127.0.0.1:9/hook"\n'
                      'secret_env = "BOT_SECRET"\n')  # fmt: skip
    with srv.client() as c:
        apps = c.get("/v1/applications").json()["applications"]
        assert [(a["id"], a["webhook_url"], a["signs_requests"]) for a in apps] == [
            ("bot", "http://127.0.0.1:9/hook", True)
        ]
        assert "whsec" not in c.get("/v1/applications").text and "whsec" not in c.get("/v1/applications/bot").text
        assert c.get("/v1/applications/nope").status_code == 404
