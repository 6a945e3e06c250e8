"""Auth on every route but health and docs, body limits, unknown routes, and the generated OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from runyard.api.dialects import all_endpoints
from tests.conftest import LiveServer


@pytest.fixture
def srv(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server("[tasks.hello]\nnoop = true\n", max_body_bytes=1024)


@pytest.mark.parametrize(
    "method, path, shape",
    [
        ("POST", "/api/tasks/hello/run", "problem"),
        ("GET", "/api/runs", "problem"),
        ("GET", "/v1/runs", "problem"),
        ("POST", "/v1/tasks/hello/trigger", "problem"),
        ("POST", "/api/v1/tasks/hello/trigger", "trigger"),
        ("GET", "/api/v3/runs/run_x", "trigger"),
    ],
)
def test_every_route_needs_a_key(srv: LiveServer, method: str, path: str, shape: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"x-api-key": "wrong"}, {"Authorization": "Basic x"}):
        resp = httpx.request(method, srv.url + path, headers=headers)
        assert resp.status_code == 401, (path, headers)
        if shape == "problem":
            assert resp.headers["content-type"] == "application/problem+json"
            assert resp.json()["status"] == 401
        else:
            assert "error" in resp.json()


def test_bearer_and_x_api_key_are_accepted(srv: LiveServer) -> None:
    assert httpx.get(srv.url + "/v1/tasks", headers={"Authorization": f"Bearer {srv.api_key}"}).status_code == 200
    assert httpx.get(srv.url + "/v1/tasks", headers={"x-api-key": srv.api_key}).status_code == 200


def test_health_docs_and_schemas_are_open(srv: LiveServer) -> None:
    for path in ("/health", "/openapi.json", "/docs", "/schemas/Run.json"):
        assert httpx.get(srv.url + path).status_code == 200, path


def test_body_over_the_limit_is_413_and_creates_nothing(srv: LiveServer) -> None:
    with srv.client() as c:
        big = b'{"payload": "' + b"x" * 2000 + b'"}'
        resp = c.post("/v1/tasks/hello/trigger", content=big)
        assert resp.status_code == 413 and resp.headers["content-type"] == "application/problem+json"

        def chunks() -> object:
            yield b'{"payload": "'
            for _ in range(10):
                yield b"x" * 200
            yield b'"}'

        chunked = c.post("/v1/tasks/hello/trigger", content=chunks())  # type: ignore[arg-type]
        assert chunked.status_code == 413
        assert c.get("/v1/runs").json()["runs"] == []


def test_unknown_routes_answer_in_the_dialect_shape(srv: LiveServer) -> None:
    with srv.client() as c:
        resp = c.get("/v1/nothing-here")
        assert resp.status_code == 404 and resp.headers["content-type"] == "application/problem+json"
        resp = c.get("/api/v2/nothing-here")
        assert resp.status_code == 404 and resp.json() == {"error": "not found"}


def test_openapi_lists_every_route_with_schemas(srv: LiveServer) -> None:
    doc = httpx.get(srv.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for ep in all_endpoints():
        path = ep.path.replace(":path", "")
        assert ep.method.lower() in doc["paths"][path], (ep.method, ep.path)
    trigger = doc["paths"]["/api/tasks/{taskName}/run"]["post"]
    ref = trigger["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[-1]
    assert "task_name" in doc["components"]["schemas"][name]["properties"]
    assert trigger["security"]
    assert "security" not in doc["paths"]["/health"]["get"]
    # Avido routes need the application's id as well as the key: both in one requirement
    avido = doc["paths"]["/v0/tasks"]["post"]["security"]
    assert {"bearer": [], "applicationId": []} in avido and {"apiKey": [], "applicationId": []} in avido
    assert doc["components"]["securitySchemes"]["applicationId"] == {
        "type": "apiKey", "in": "header", "name": "x-application-id",
    }  # fmt: skip
    assert doc["paths"]["/v2/tasks"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]


def test_a_wrong_method_is_a_405_that_names_every_method_of_the_path(srv: LiveServer) -> None:
    from runyard.api.dialects import all_endpoints

    methods: dict[str, set[str]] = {}
    for ep in all_endpoints():
        methods.setdefault(ep.path, set()).add(ep.method)
    assert methods["/v1/schedules"] == {"GET", "POST"}  # a path with several methods
    headers = {"Authorization": f"Bearer {srv.api_key}"}
    for path in ("/v1/schedules", "/api/v1/schedules", "/v1/tasks/hello/trigger"):
        resp = httpx.request("OPTIONS", srv.url + path, headers=headers)
        assert resp.status_code == 405, path
        allowed = {m.strip() for m in resp.headers["allow"].split(",")}
        wanted = methods[path.replace("hello", "{name}")]
        assert wanted <= allowed, (path, allowed)
    assert httpx.head(srv.url + "/v1/tasks", headers=headers).status_code == 200
    assert httpx.get(srv.url + "/v1/schedules", headers=headers).status_code == 200


def test_openapi_links_lead_from_what_makes_a_thing_to_what_reads_it(srv: LiveServer) -> None:
    """Every link names an operation of the document, and every operation ids is unique; the links make the
    stateful fuzzing phase follow trigger -> read -> cancel."""
    from runyard.api.links import LINKS

    doc = httpx.get(srv.url + "/openapi.json").json()
    ops = [op for ops in doc["paths"].values() for op in ops.values()]
    assert len({op["operationId"] for op in ops}) == len(ops)
    found = set()
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            for response in op["responses"].values():
                for name, link in response.get("links", {}).items():
                    target_path, target_method = link["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
                    target = doc["paths"][target_path.replace("~1", "/").replace("~0", "~")][target_method]
                    names = {p["name"] for p in target.get("parameters", [])}
                    assert set(link["parameters"]) <= names, (path, method, link)
                    found.add((path, method, name))
    assert len(found) == sum(len(v) for v in LINKS.values()) > 30
