"""The Arize AX v2 dialect over plain HTTP: every validation rule of the contract a 4xx problem+json with
nothing created, the contract's lowercase enums for plain clients and UPPERCASE for the official client,
opaque base64 ids, cursor pagination, and cancel of a run that is really running."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.evals.servers import Recorder, serve

SPACE = "U3BhY2U6MQ=="
PROJECT = "UHJvamVjdDo3"


def slow_llm(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"choices": [{"message": {"role": "assistant", "content": "Paris"}}]}


@pytest.fixture
def llm() -> Iterator[Recorder]:
    with serve(slow_llm, delay=0.3) as rec:
        yield rec


class Arize:
    def __init__(self, url: str, key: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def call(self, method: str, path: str, want: int, body: Any = None, **kw: Any) -> Any:
        resp = self.http.request(method, path, json=body, **kw)
        assert resp.status_code == want, (method, path, body, resp.status_code, resp.text)
        if resp.status_code >= 400:
            assert resp.headers["content-type"] == "application/problem+json"
            problem = resp.json()
            assert problem["status"] == want and problem["title"] and problem["detail"]
            return problem
        return resp.json() if resp.content else None

    def dataset(self, name: str = "capitals") -> str:
        examples = [{"id": f"ex-{n}", "question": f"q{n}", "answer": "Paris"} for n in range(3)]
        return str(
            self.call("POST", "/v2/datasets", 201, {"name": name, "space_id": SPACE, "examples": examples})["id"]
        )

    def evaluator(self, name: str = "exact") -> str:
        config = {
            "type": "MANAGED",
            "name": name,
            "managed_evaluator": "EXACT_MATCH",
            "variables": ["output", "answer"],
        }
        body = {
            "space_id": SPACE,
            "name": name,
            "type": "CODE",
            "version": {"commit_message": "v1", "code_config": config},
        }
        return str(self.call("POST", "/v2/evaluators", 201, body)["id"])

    def experiment(self, dataset: str, name: str = "recorded") -> str:
        runs = [{"example_id": "ex-0", "output": "Paris"}, {"example_id": "ex-1", "output": "Rome"}]
        body = {"name": name, "dataset_id": dataset, "experiment_runs": runs}
        return str(self.call("POST", "/v2/experiments", 201, body)["id"])

    def task(self, body: dict[str, Any]) -> dict[str, Any]:
        task: dict[str, Any] = self.call("POST", "/v2/tasks", 201, body)
        return task

    def runs(self, task_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.call("GET", f"/v2/tasks/{task_id}/runs", 200)["task_runs"]
        return runs


@pytest.fixture
def api(live_server: Any, llm: Recorder) -> Arize:
    srv = live_server(f'[tasks.evaluations]\nevaluation = {{ judge = {{ url = "{llm.url}" }} }}\n')
    return Arize(srv.url, srv.api_key)


def _experiment_task(api: Arize, dataset: str) -> dict[str, Any]:
    config = {"experiment_type": "LLM_GENERATION", "ai_integration_id": "QUk6MQ==",
              "messages": [{"role": "user", "content": "{question}"}]}  # fmt: skip
    return api.task({"name": "gen", "type": "run_experiment", "dataset_id": dataset, "run_configuration": config})


def test_plain_clients_get_the_contracts_lowercase_and_the_official_client_uppercase(api: Arize) -> None:
    evaluator = api.evaluator()
    task = api.task({"name": "live", "type": "CODE_EVALUATION", "project_id": PROJECT,
                     "evaluators": [{"evaluator_id": evaluator}]})  # fmt: skip
    assert task["type"] == "code_evaluation" and task["sampling_rate"] == 1.0
    assert base64.b64decode(task["id"]).decode().startswith("Task:") and "/" not in task["id"]
    run = api.call("POST", f"/v2/tasks/{task['id']}/trigger", 201, {})
    assert run["status"] in ("pending", "running", "cancelled") and run["experiment_id"] is None
    assert set(run) >= {"id", "task_id", "status", "run_started_at", "run_finished_at", "data_start_time",
                        "data_end_time", "num_successes", "num_errors", "num_skipped", "created_at",
                        "created_by_user_id", "failure_reason"}  # fmt: skip
    assert run["task_id"] == task["id"]
    official = {"sdk-package-name": "arize"}
    assert api.call("GET", f"/v2/tasks/{task['id']}", 200, headers=official)["type"] == "CODE_EVALUATION"
    got = api.call("GET", f"/v2/task-runs/{run['id']}", 200, headers=official)
    assert got["status"] in ("PENDING", "RUNNING", "CANCELLED")
    listed = api.call("GET", "/v2/tasks?type=code_evaluation", 200)["tasks"]
    assert [t["id"] for t in listed] == [task["id"]]
    assert api.call("GET", "/v2/tasks?type=RUN_EXPERIMENT", 200)["tasks"] == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "t", "type": "bogus", "project_id": PROJECT}, "type"),
        ({"name": "", "type": "code_evaluation", "project_id": PROJECT}, "name"),
        ({"name": "t", "type": "code_evaluation"}, "exactly one"),
        ({"name": "t", "type": "code_evaluation", "project_id": PROJECT, "dataset_id": "RGF0YXNldDox"}, "exactly one"),
        ({"name": "t", "type": "code_evaluation", "project_id": PROJECT}, "evaluators"),
        ({"name": "t", "type": "code_evaluation", "project_id": PROJECT, "sampling_rate": 2}, "sampling_rate"),
        ({"name": "t", "type": "code_evaluation", "project_id": "not-an-id"}, "project_id"),
        ({"name": "t", "type": "code_evaluation", "project_id": PROJECT, "run_configuration": {}}, "run_configuration"),
        ({"name": "t", "type": "run_experiment", "project_id": PROJECT}, "project_id"),
        ({"name": "t", "type": "run_experiment"}, "dataset_id"),
    ],
)
def test_invalid_tasks_are_refused_and_nothing_is_created(api: Arize, body: dict[str, Any], needle: str) -> None:
    problem = api.call("POST", "/v2/tasks", 400, body)
    assert needle in problem["detail"]
    assert api.call("GET", "/v2/tasks", 200)["tasks"] == []


def test_task_references_are_checked(api: Arize) -> None:
    dataset, code = api.dataset(), api.evaluator()
    template = api.call("POST", "/v2/evaluators", 201, {
        "space_id": SPACE, "name": "judge", "type": "TEMPLATE",
        "version": {"commit_message": "v1", "template_config": {"name": "judge", "template": "Is {output} ok?"}},
    })["id"]  # fmt: skip
    missing = base64.b64encode(b"Evaluator:01ARZ3NDEKTSV4RRFFQ69G5FAV").decode()
    api.call("POST", "/v2/tasks", 404, {"name": "t", "type": "code_evaluation", "project_id": PROJECT,
                                        "evaluators": [{"evaluator_id": missing}]})  # fmt: skip
    detail = api.call("POST", "/v2/tasks", 400, {"name": "t", "type": "code_evaluation", "project_id": PROJECT,
                                                 "evaluators": [{"evaluator_id": template}]})["detail"]  # fmt: skip
    assert "CODE" in detail
    no_experiments = {
        "name": "t",
        "type": "code_evaluation",
        "dataset_id": dataset,
        "evaluators": [{"evaluator_id": code}],
    }
    assert "experiment_ids" in api.call("POST", "/v2/tasks", 400, no_experiments)["detail"]
    other = api.experiment(api.dataset("other"))
    assert (
        "not an experiment of"
        in api.call("POST", "/v2/tasks", 400, no_experiments | {"experiment_ids": [other]})["detail"]
    )
    agent = {"name": "t", "type": "run_experiment", "dataset_id": dataset,
             "run_configuration": {"experiment_type": "AGENT_CALL"}}  # fmt: skip
    assert "LLM_GENERATION" in api.call("POST", "/v2/tasks", 400, agent)["detail"]
    assert api.call("GET", "/v2/tasks", 200)["tasks"] == []


def test_trigger_rules_for_project_tasks(api: Arize) -> None:
    task = api.task({"name": "live", "type": "template_evaluation", "project_id": PROJECT,
                     "evaluators": [{"evaluator_id": api.call("POST", "/v2/evaluators", 201, {
                         "space_id": SPACE, "name": "judge", "type": "template",
                         "version": {"commit_message": "v1", "template_config": {"name": "j", "template": "{output}"}},
                     })["id"]}]})  # fmt: skip
    now = datetime.now(UTC)
    path = f"/v2/tasks/{task['id']}/trigger"
    bad = [
        ({"experiment_name": "x"}, "experiment_name"),
        ({"max_examples": 3}, "max_examples"),
        ({"data_start_time": now.isoformat(), "data_end_time": (now - timedelta(hours=1)).isoformat()}, "before"),
        ({"data_start_time": (now - timedelta(days=31)).isoformat(), "data_end_time": now.isoformat()}, "30 days"),
        ({"data_start_time": "yesterday"}, "ISO 8601"),
        ({"max_spans": 0}, "max_spans"),
        ({"experiment_ids": ["RXhwZXJpbWVudDox"]}, "dataset-based"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"max_spans": "many"}, "max_spans"),
    ]
    for body, needle in bad:
        assert needle in api.call("POST", path, 400, body)["detail"], body
    assert api.runs(task["id"]) == []
    window = {"data_start_time": (now - timedelta(days=2)).replace(tzinfo=None).isoformat(),
              "data_end_time": now.isoformat(), "max_spans": 5, "override_evaluations": True}  # fmt: skip
    run = api.call("POST", path, 201, window)
    assert run["data_start_time"].startswith((now - timedelta(days=2)).strftime("%Y-%m-%dT%H"))
    assert [r["id"] for r in api.runs(task["id"])] == [run["id"]]


def test_trigger_rules_for_dataset_and_experiment_tasks(api: Arize) -> None:
    dataset, code = api.dataset(), api.evaluator()
    recorded = api.experiment(dataset)
    on_dataset = api.task({"name": "exact", "type": "code_evaluation", "dataset_id": dataset,
                           "experiment_ids": [recorded], "evaluators": [{"evaluator_id": code}]})  # fmt: skip
    for body in ({"data_start_time": "2026-01-01T00:00:00Z"}, {"max_spans": 5}, {"experiment_name": "x"}):
        api.call("POST", f"/v2/tasks/{on_dataset['id']}/trigger", 400, body)
    live = api.task({"name": "live", "type": "code_evaluation", "project_id": PROJECT,
                     "evaluators": [{"evaluator_id": code}]})  # fmt: skip
    gen = _experiment_task(api, dataset)
    path = f"/v2/tasks/{gen['id']}/trigger"
    bad = [
        ({}, "experiment_name: required"),
        ({"max_examples": 50}, "experiment_name: required"),
        ({"experiment_name": 'a "quoted" name'}, "double quotes"),
        ({"experiment_name": "x" * 256}, "255"),
        ({"experiment_name": "x", "override_evaluations": True}, "override_evaluations"),
        ({"experiment_name": "x", "data_start_time": "2026-01-01T00:00:00Z"}, "data_start_time"),
        ({"experiment_name": "x", "max_examples": 1, "example_ids": ["ex-0"]}, "at most one"),
        ({"experiment_name": "x", "max_examples": 0}, "max_examples"),
        ({"experiment_name": "x", "example_ids": ["ex-404"]}, "ex-404"),
        ({"experiment_name": "x", "evaluation_task_ids": [live["id"]]}, "not an evaluation task of dataset"),
        ({"experiment_name": "recorded"}, "recorded"),
    ]
    for body, needle in bad:
        want = 409 if body == {"experiment_name": "recorded"} else 400
        assert needle in api.call("POST", path, want, body)["detail"], body
    assert api.runs(gen["id"]) == []
    version = api.call("GET", f"/v2/datasets/{dataset}", 200)["versions"][0]["id"]
    listed = api.call("GET", "/v2/datasets?name=CAPIT", 200)["datasets"]
    assert [d["id"] for d in listed] == [dataset] and api.call("GET", "/v2/datasets?name=zzz", 200)["datasets"] == []
    run = api.call("POST", path, 201, {"experiment_name": "two", "max_examples": 2, "dataset_version_id": version,
                                       "evaluation_task_ids": [on_dataset["id"]]})  # fmt: skip
    assert run["experiment_id"] and run["data_start_time"] is None
    experiment = api.call("GET", f"/v2/experiments/{run['experiment_id']}", 200)
    assert (
        experiment["name"] == "two"
        and experiment["dataset_id"] == dataset
        and experiment["dataset_version_id"] == version
    )


def test_cancel_stops_a_running_experiment_and_refuses_a_finished_one(api: Arize, llm: Recorder) -> None:
    dataset = api.dataset()
    more = [{"id": f"more-{n}", "question": f"m{n}", "answer": "Paris"} for n in range(40)]
    api.call("POST", f"/v2/datasets/{dataset}/examples", 201, {"examples": more})
    gen = _experiment_task(api, dataset)
    run = api.call("POST", f"/v2/tasks/{gen['id']}/trigger", 201, {"experiment_name": "slow"})
    for _ in range(200):
        if api.call("GET", f"/v2/task-runs/{run['id']}", 200)["status"] == "running" and llm.bodies:
            break
        time.sleep(0.05)
    cancelled = api.call("POST", f"/v2/task-runs/{run['id']}/cancel", 200)
    assert cancelled["status"] == "cancelled" and cancelled["failure_reason"]
    api.call("POST", f"/v2/task-runs/{run['id']}/cancel", 400)
    seen = len(llm.bodies)
    time.sleep(1.0)
    assert len(llm.bodies) <= seen + 8, "a cancelled run kept calling the model"  # at most the lanes in flight
    final = api.call("GET", f"/v2/task-runs/{run['id']}", 200)
    assert final["status"] == "cancelled" and final["num_successes"] < 43
    assert api.call("GET", f"/v2/tasks/{gen['id']}/runs?status=CANCELLED", 200)["task_runs"][0]["id"] == run["id"]
    assert api.call("GET", f"/v2/tasks/{gen['id']}/runs?status=completed", 200)["task_runs"] == []


def test_ids_that_name_nothing_are_404_and_cursors_page(api: Arize) -> None:
    for path in ("/v2/tasks/not-base64!", "/v2/tasks/VGFza1J1bjox", "/v2/task-runs/VGFzazox", "/v2/datasets/eA==",
                 "/v2/experiments/RXhwZXJpbWVudDox", "/v2/evaluators/RXZhbHVhdG9yOjE="):  # fmt: skip
        api.call("GET", path, 404)
    code = api.evaluator()
    ids = [api.task({"name": f"t{n}", "type": "code_evaluation", "project_id": PROJECT,
                     "evaluators": [{"evaluator_id": code}]})["id"] for n in range(3)]  # fmt: skip
    first = api.call("GET", "/v2/tasks?limit=2", 200)
    assert [t["id"] for t in first["tasks"]] == ids[:2] and first["pagination"]["has_more"] is True
    second = api.call("GET", f"/v2/tasks?limit=2&cursor={first['pagination']['next_cursor']}", 200)
    assert [t["id"] for t in second["tasks"]] == ids[2:] and second["pagination"] == {"has_more": False}
    api.call("GET", "/v2/tasks?limit=0", 400)
    api.call("GET", "/v2/tasks?cursor=garbage", 400)
    runs = [api.call("POST", f"/v2/tasks/{ids[0]}/trigger", 201, {})["id"] for _ in range(3)]
    page = api.call("GET", f"/v2/tasks/{ids[0]}/runs?limit=2", 200)
    rest = api.call("GET", f"/v2/tasks/{ids[0]}/runs?limit=2&cursor={page['pagination']['next_cursor']}", 200)
    assert [r["id"] for r in page["task_runs"] + rest["task_runs"]] == runs[::-1]
    assert rest["pagination"]["has_more"] is False


def test_evaluator_rules_and_versions(api: Arize) -> None:
    base = {"space_id": SPACE, "name": "e", "type": "CODE"}
    custom = {"type": "CUSTOM", "name": "c", "code": "class E: ...", "variables": ["output"]}
    refused = api.call(
        "POST", "/v2/evaluators", 400, base | {"version": {"commit_message": "v", "code_config": custom}}
    )
    assert "MANAGED" in refused["detail"]
    regex = {"type": "MANAGED", "name": "r", "managed_evaluator": "MATCHES_REGEX", "variables": ["output"]}
    api.call("POST", "/v2/evaluators", 400, base | {"version": {"commit_message": "v", "code_config": regex}})
    api.call("POST", "/v2/evaluators", 400, base | {"type": "HARNESS", "version": {"commit_message": "v"}})
    assert api.call("GET", "/v2/evaluators", 200)["evaluators"] == []
    with_pattern = regex | {"static_params": [{"name": "pattern", "value": "^P"}]}
    created = api.call(
        "POST", "/v2/evaluators", 201, base | {"version": {"commit_message": "v1", "code_config": with_pattern}}
    )
    api.call("POST", "/v2/evaluators", 409, base | {"version": {"commit_message": "v1", "code_config": with_pattern}})
    second = with_pattern | {"static_params": [{"name": "pattern", "value": "^R"}]}
    v2 = api.call(
        "POST", f"/v2/evaluators/{created['id']}/versions", 201, {"commit_message": "v2", "code_config": second}
    )
    assert v2["commit_message"] == "v2" and v2["id"] != created["version"]["id"]
    versions = api.call("GET", f"/v2/evaluators/{created['id']}/versions?limit=1", 200)
    assert [v["id"] for v in versions["evaluator_versions"]] == [v2["id"]] and versions["pagination"]["has_more"]
    newest = api.call("GET", f"/v2/evaluators/{created['id']}", 200)
    assert newest["version"]["id"] == v2["id"]
    pinned = api.call("GET", f"/v2/evaluators/{created['id']}?version_id={created['version']['id']}", 200)
    assert pinned["version"]["code_config"]["static_params"][0]["value"] == "^P"
    api.call("DELETE", f"/v2/evaluators/{created['id']}", 204)
    api.call("GET", f"/v2/evaluators/{created['id']}", 404)


def test_an_experiment_name_is_taken_once_even_by_simultaneous_triggers(api: Arize) -> None:
    from concurrent.futures import ThreadPoolExecutor

    dataset = api.dataset()
    gen = _experiment_task(api, dataset)

    def fire(_: int) -> int:
        resp = api.http.post(f"/v2/tasks/{gen['id']}/trigger", json={"experiment_name": "same"})
        return resp.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(fire, range(8)))
    assert codes == [201] + [409] * 7
    assert len(api.runs(gen["id"])) == 1
