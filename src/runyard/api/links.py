"""OpenAPI links: which operation's response supplies the identifier another operation takes (a run a trigger
made, a task a create made), so that clients and schema-driven testers can follow the flows: trigger, read,
cancel. Each entry adds the links to the success response of the operation (method, path) that makes the
thing; the dialects' endpoints stay as they are."""

from __future__ import annotations

import dataclasses

from runyard.api.dialect import Dialect

Link = tuple[str, str, dict[str, str]]  # (method, path, {parameter: runtime expression})


def _to(targets: list[tuple[str, str]], param: str, expression: str) -> dict[str, Link]:
    return {f"{method.title()}{path.strip('/').replace('/', '_')}": (method, path, {param: expression})
            for method, path in targets}  # fmt: skip


LINKS: dict[tuple[str, str], dict[str, Link]] = {
    ("POST", "/v1/tasks/{name}/trigger"): _to(
        [("GET", "/v1/runs/{id}"), ("POST", "/v1/runs/{id}/cancel"), ("GET", "/v1/runs/{id}/logs"),
         ("POST", "/v1/runs/{id}/replay")], "id", "$response.body#/run/id"),
    ("POST", "/v1/schedules"): _to(
        [("GET", "/v1/schedules/{id}"), ("PUT", "/v1/schedules/{id}"), ("POST", "/v1/schedules/{id}/activate"),
         ("POST", "/v1/schedules/{id}/deactivate"), ("DELETE", "/v1/schedules/{id}")], "id", "$response.body#/id"),
    ("POST", "/api/tasks/{taskName}/run"): _to(
        [("GET", "/api/runs/{runId}"), ("POST", "/api/runs/{runId}/stop"), ("GET", "/api/runs/{runId}/log")],
        "runId", "$response.body#/id"),
    ("POST", "/api/v1/tasks/{taskIdentifier}/trigger"): _to(
        [("GET", "/api/v3/runs/{runId}"), ("POST", "/api/v2/runs/{runId}/cancel")], "runId", "$response.body#/id"),
    ("POST", "/v0/tasks"): _to([("GET", "/v0/tasks/{id}"), ("PUT", "/v0/tasks/{id}")], "id", "$response.body#/task/id"),
    ("POST", "/v2/tasks"): _to(
        [("GET", "/v2/tasks/{task_id}"), ("PATCH", "/v2/tasks/{task_id}"), ("POST", "/v2/tasks/{task_id}/trigger"),
         ("GET", "/v2/tasks/{task_id}/runs"), ("DELETE", "/v2/tasks/{task_id}")], "task_id", "$response.body#/id"),
    ("POST", "/v2/tasks/{task_id}/trigger"): _to(
        [("GET", "/v2/task-runs/{run_id}"), ("POST", "/v2/task-runs/{run_id}/cancel")], "run_id", "$response.body#/id"),
    ("POST", "/v2/datasets"): _to(
        [("GET", "/v2/datasets/{dataset_id}"), ("GET", "/v2/datasets/{dataset_id}/examples"),
         ("POST", "/v2/datasets/{dataset_id}/examples")], "dataset_id", "$response.body#/id"),
    ("POST", "/v2/experiments"): _to(
        [("GET", "/v2/experiments/{experiment_id}"), ("GET", "/v2/experiments/{experiment_id}/runs")],
        "experiment_id", "$response.body#/id"),
    ("POST", "/v2/evaluators"): _to(
        [("GET", "/v2/evaluators/{evaluator_id}"), ("GET", "/v2/evaluators/{evaluator_id}/versions"),
         ("POST", "/v2/evaluators/{evaluator_id}/versions"), ("DELETE", "/v2/evaluators/{evaluator_id}")],
        "evaluator_id", "$response.body#/id"),
}  # fmt: skip


def with_links(dialect: Dialect) -> Dialect:
    """The dialect with the links of its operations on their endpoints."""
    endpoints = [
        dataclasses.replace(ep, links={**ep.links, **LINKS[(ep.method, ep.path)]})
        if (ep.method, ep.path) in LINKS else ep
        for ep in dialect.endpoints
    ]  # fmt: skip
    return dataclasses.replace(dialect, endpoints=endpoints)
