"""Hostile input, class by class: every route answers 4xx in its dialect's shape, never 5xx, and stores
nothing it should not (deep JSON, out-of-range durations and numbers, control characters, huge keys)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from runyard.api.dialects import all_endpoints
from tests.conftest import LiveServer

DEEP = 100_000
APP = "app_1"
CONFIG = f'[tasks.hello]\nnoop = true\n\n[[applications]]\nid = "{APP}"\ntitle = "Bot"\nwebhook_url = "http://127.0.0.1:9/hook"\n'


@pytest.fixture
def srv(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(CONFIG, max_body_bytes=4 * 1024 * 1024)


def _headers(srv: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.api_key}", "x-application-id": APP, "content-type": "application/json"}


def _delayed_run(srv: LiveServer) -> str:
    """A Trigger.dev run id (run_...) of a delayed run, so that reschedule and metadata reach their bodies."""
    with srv.client() as c:
        resp = c.post("/api/v1/tasks/hello/trigger", json={"payload": {}, "options": {"delay": "1h"}})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def _fill(path: str, run_id: str) -> str:
    raw = run_id.removeprefix("run_").upper()
    values = {"name": "hello", "taskName": "hello", "taskIdentifier": "hello", "runId": run_id, "id": raw}
    return re.sub(r"\{([^}:]+)(?::path)?\}", lambda m: values.get(m.group(1), "x1"), path)


def _runs(srv: LiveServer) -> int:
    with srv.client() as c:
        return len(c.get("/v1/runs", params={"limit": 1000}).json()["runs"])


def test_json_nested_a_hundred_thousand_deep_is_a_4xx_on_every_route_with_a_body(srv: LiveServer) -> None:
    run_id = _delayed_run(srv)
    bodies = [b"[" * DEEP + b"]" * DEEP, b'{"payload":' + b"[" * DEEP + b"]" * DEEP + b"}"]
    checked = 0
    for ep in all_endpoints():
        if ep.method not in ("POST", "PUT", "PATCH") or ep.content_type == "text/event-stream":
            continue
        for body in bodies:
            resp = httpx.request(ep.method, srv.url + _fill(ep.path, run_id), content=body, headers=_headers(srv))
            assert resp.status_code < 500, (ep.method, ep.path, resp.status_code, resp.text[:200])
            if ep.body is not None:  # a route that reads a JSON body refuses it; others ignore the body
                assert resp.status_code >= 400, (ep.method, ep.path, resp.status_code)
                checked += 1
    assert checked > 15
    with srv.client() as c:  # the metadata route the finding named, with a real run: 400 in Trigger.dev's shape
        deep_metadata = b'{"metadata":{"a":' + b"[" * DEEP + b"]" * DEEP + b"}}"
        resp = c.put(f"/api/v1/runs/{run_id}/metadata", content=deep_metadata)
    assert resp.status_code == 400 and "nested too deeply" in resp.json()["error"]
    for path in ("/v1/tasks/hello/trigger", "/api/v1/tasks/hello/trigger", "/api/tasks/hello/run"):
        with srv.client() as c:
            resp = c.post(path, content=bodies[1])
        assert resp.status_code == 400 and "nested too deeply" in resp.text, path


BAD_DELAYS = ["inf", "1e400", "NaN", "³", "٣", "-5s", "3651d", "99999999999999999999"]


@pytest.mark.parametrize("delay", BAD_DELAYS)
def test_durations_out_of_range_or_not_ascii_are_refused_on_every_trigger_route(srv: LiveServer, delay: str) -> None:
    run_id = _delayed_run(srv)
    with srv.client() as c:
        native = c.post("/v1/tasks/hello/trigger", json={"delay": delay})
        assert native.status_code == 422 and native.headers["content-type"] == "application/problem+json"
        for name in ("ttl", "max_duration", "idempotency_ttl"):
            assert c.post("/v1/tasks/hello/trigger", json={name: delay}).status_code == 422, name
        single = c.post("/api/v1/tasks/hello/trigger", json={"payload": {}, "options": {"delay": delay}})
        assert single.status_code == 400 and "delay" in single.json()["error"], single.text
        assert c.post("/api/v1/tasks/hello/trigger", json={"options": {"ttl": delay}}).status_code == 400
        batch = c.post("/api/v2/tasks/batch", json={"items": [{"task": "hello", "options": {"delay": delay}}]})
        assert batch.status_code == 400, batch.text
        created = c.post("/api/v3/batches", json={"runCount": 1, "taskIdentifiers": ["hello"]}).json()
        item = b'{"index":0,"task":"hello","payload":"{}","options":{"delay":"%s"}}\n' % delay.encode()
        streamed = c.post(f"/api/v3/batches/{created['id']}/items", content=item)
        assert streamed.status_code < 500  # an item that cannot run is the batch's error, not a run
        if streamed.status_code == 200:
            assert c.get(f"/api/v2/batches/{created['id']}").json()["runs"] == []
        resched = c.post(f"/api/v1/runs/{run_id}/reschedule", json={"delay": delay})
        assert resched.status_code == 400 and "error" in resched.json(), resched.text
        period = c.get("/api/v1/runs", params={"filter[createdAt][period]": delay})
        assert period.status_code == 400, period.text
    assert _runs(srv) == 1  # only the delayed run of the fixture


def test_reschedule_keeps_the_ten_year_bound_of_trigger(srv: LiveServer) -> None:
    run_id = _delayed_run(srv)
    with srv.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/reschedule", json={"delay": "3650d"}).status_code == 200
        far = c.post(f"/api/v1/runs/{run_id}/reschedule", json={"delay": "9999-01-01T00:00:00Z"})
        assert far.status_code == 400 and "3650 days" in far.json()["error"]
        assert c.post(f"/api/v1/runs/{run_id}/reschedule", json={"delay": "5m"}).status_code == 200


@pytest.mark.parametrize("value", ["9" * 19, "9" * 40, "-1", "1e3", "³"])
def test_numbers_in_query_parameters_out_of_range_are_4xx(srv: LiveServer, value: str) -> None:
    run_id = _delayed_run(srv)
    raw = run_id.removeprefix("run_").upper()
    with srv.client() as c:
        for path, name in [
            (f"/v1/runs/{raw}/logs", "after"),
            (f"/v1/runs/{raw}/logs", "limit"),
            ("/v1/runs", "limit"),
            ("/v1/schedules", "offset"),
            ("/api/v1/runs", "filter[createdAt][from]"),
            ("/api/v1/runs", "filter[createdAt][to]"),
            ("/api/v1/runs", "page[size]"),
            ("/api/v1/schedules", "page"),
            ("/api/runs", "createdAfter"),
            ("/api/runs", "createdBefore"),
            ("/api/runs", "limit"),
            (f"/api/runs/{raw}/log", "from"),
            ("/v0/tasks", "skip"),
        ]:
            resp = c.get(path, params={name: value}, headers={"x-application-id": APP})
            if value == "-1" and name in ("filter[createdAt][from]", "filter[createdAt][to]"):
                assert resp.status_code in (200, 400), (path, name)  # "-1" is not a time: parsed as ISO, refused
                continue
            assert 400 <= resp.status_code < 500, (path, name, value, resp.status_code, resp.text[:200])
        assert c.get("/api/v1/runs", params={"filter[createdAt][period]": "inf"}).status_code == 400
        assert c.get("/v1/events/stream", headers={"last-event-id": "9" * 19}).status_code == 422


def test_an_empty_idempotency_key_is_no_key_in_every_dialect(srv: LiveServer) -> None:
    with srv.client() as c:
        first = c.post("/v1/tasks/hello/trigger", json={"idempotency_key": ""})
        second = c.post("/v1/tasks/hello/trigger", json={"idempotency_key": ""})
        assert first.status_code == second.status_code == 201
        assert first.json()["run"]["id"] != second.json()["run"]["id"]
        assert not second.json()["cached"]
        a = c.post("/api/v1/tasks/hello/trigger", json={"options": {"idempotencyKey": ""}}).json()
        b = c.post("/api/v1/tasks/hello/trigger", json={"options": {"idempotencyKey": ""}}).json()
        assert a["id"] != b["id"] and not b.get("isCached")
        h1 = c.post("/v1/tasks/hello/trigger", json={}, headers={"idempotency-key": ""})
        h2 = c.post("/v1/tasks/hello/trigger", json={}, headers={"idempotency-key": ""})
        assert h1.json()["run"]["id"] != h2.json()["run"]["id"]
    assert _runs(srv) == 6


BAD_IDS = ["a\x00b", "tab\there", "x" * 1_000_000]


@pytest.mark.parametrize("value", BAD_IDS, ids=["nul", "control", "megabyte"])
def test_identifiers_are_bounded_in_length_and_characters(srv: LiveServer, value: str) -> None:
    with srv.client() as c:
        for body in (
            {"queue": value},
            {"concurrency_key": value},
            {"idempotency_key": value},
            {"tags": [value]},
        ):
            resp = c.post("/v1/tasks/hello/trigger", json=body)
            assert resp.status_code in (400, 422), (list(body), resp.status_code)
            assert resp.headers["content-type"] == "application/problem+json"
        for options in (
            {"queue": {"name": value}},
            {"concurrencyKey": value},
            {"idempotencyKey": value},
            {"tags": [value]},
        ):
            resp = c.post("/api/v1/tasks/hello/trigger", json={"payload": {}, "options": options})
            assert resp.status_code in (400, 422) and "error" in resp.json(), (list(options), resp.text[:200])
        batch = c.post("/api/v2/tasks/batch", json={"items": [{"task": "hello", "options": {"concurrencyKey": value}}]})
        assert batch.status_code == 400
        assert c.post("/api/tasks/hello/run", params={"via": value[:5000]}).status_code in (400, 422)
    assert _runs(srv) == 0


def test_a_long_unknown_task_name_is_refused_clearly(srv: LiveServer) -> None:
    with srv.client() as c:
        resp = c.post("/v1/tasks/" + "t" * 5000 + "/trigger", json={})
    assert resp.status_code == 400 and "limit is 128" in resp.json()["detail"]


def test_presigning_a_packet_again_keeps_its_data_and_paths_are_normalized(srv: LiveServer) -> None:
    with srv.client() as c:
        first = c.put("/api/v2/packets/p%2Fa.json").json()
        assert httpx.put(first["presignedUrl"], content=b'{"n":1}').status_code == 200
        again = c.put("/api/v2/packets/p%2F.%2F%2Fa.json").json()
        assert again["storagePath"] == "p/a.json"  # the same packet, normalized
        run = c.post(
            "/api/v1/tasks/hello/trigger",
            json={"payload": "p//a.json", "options": {"payloadType": "application/store"}},
        )
        assert run.status_code == 200, run.text  # the data survived the second presign
        assert httpx.put(again["presignedUrl"], content=b'{"n":2}').status_code == 200
        assert httpx.put(again["presignedUrl"], content=b'{"n":3}').status_code == 404  # single use
        for bad in ("..%2Fescape.json", "a%2F..%2F..%2Fb", "%2E%2E", "a%00b"):
            resp = c.put(f"/api/v2/packets/{bad}")
            assert resp.status_code == 400 and "error" in resp.json(), bad
