"""The Trigger.dev dialect over real HTTP: every malformed field is a 4xx `{error}` and creates nothing;
the wire shapes hold what the SDK's schemas require."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import LiveServer

CONFIG = """
[server]
poll_interval = "0.05s"

[tasks.add]
python = "tests.worker.tasks_for_tests:add"

[tasks.echo]
python = "tests.worker.tasks_for_tests:echo"

[tasks.forever]
python = "tests.worker.tasks_for_tests:forever"

[tasks.held]
noop = true
queue = { name = "held", concurrency = 0 }

[tasks.brief]
python = "tests.worker.tasks_for_tests:brief"
queue = { name = "prio", concurrency = 0 }
"""
REQUIRED = {
    "id", "taskIdentifier", "status", "isQueued", "isExecuting", "isWaiting", "isCompleted", "isSuccess", "isFailed",
    "isCancelled", "isTest", "createdAt", "updatedAt", "tags", "costInCents", "baseCostInCents", "durationMs",
    "depth", "triggerFunction", "relatedRuns",
}  # fmt: skip
STATUSES = {"PENDING_VERSION", "QUEUED", "DEQUEUED", "EXECUTING", "WAITING", "COMPLETED", "CANCELED", "FAILED",
            "CRASHED", "SYSTEM_FAILURE", "DELAYED", "EXPIRED", "TIMED_OUT"}  # fmt: skip


@pytest.fixture
def srv(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(CONFIG, max_body_bytes=64 * 1024)


def trigger(srv: LiveServer, task: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    with srv.client() as c:
        return c.post(f"/api/v1/tasks/{task}/trigger", content=json.dumps(body), headers=headers or {})


def retrieve(srv: LiveServer, run_id: str) -> dict[str, Any]:
    with srv.client() as c:
        resp = c.get(f"/api/v3/runs/{run_id}")
        assert resp.status_code == 200
        body: dict[str, Any] = resp.json()
        return body


def wait_status(srv: LiveServer, run_id: str, status: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = retrieve(srv, run_id)
        if run["status"] == status:
            return run
        assert time.monotonic() < deadline, run["status"]
        time.sleep(0.03)


def count_runs(srv: LiveServer) -> int:
    with srv.client() as c:
        return len(c.get("/api/v1/runs", params={"page[size]": 100}).json()["data"])


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"options": {"tags": ["1", "2", "3", "4", "5", "6"]}}, "Too many tags"),
        ({"options": {"tags": ["x" * 64]}}, "less than 64"),
        ({"options": {"tags": [""]}}, "empty"),
        ({"options": {"tags": 5}}, "Invalid request body"),
        ({"options": {"ttl": -1}}, "ttl"),
        ({"options": {"ttl": 0}}, "ttl"),
        ({"options": {"ttl": 1.5}}, "ttl"),
        ({"options": {"ttl": "0s"}}, "ttl"),
        ({"options": {"ttl": "forever"}}, "ttl"),
        ({"options": {"delay": "whenever"}}, "delay"),
        ({"options": {"delay": 5}}, "Invalid request body"),
        ({"options": {"queue": {"name": "q", "concurrencyLimit": -1}}}, "concurrencyLimit"),
        ({"options": {"queue": {"name": "q", "concurrencyLimit": 1001}}}, "concurrencyLimit"),
        ({"options": {"queue": {"concurrencyLimit": 1}}}, "Invalid request body"),
        ({"options": {"queue": {"name": " "}}}, "queue.name"),
        ({"options": {"maxAttempts": 0}}, "maxAttempts"),
        ({"options": {"maxDuration": -3}}, "maxDuration"),
        ({"options": {"priority": -1}}, "priority"),
        ({"options": {"metadata": [1]}}, "metadata"),
        ({"options": {"idempotencyKeyTTL": "later"}}, "idempotencyKeyTTL"),
        ({"payload": {"a": 1}, "options": {"payloadType": "application/super+json"}}, "SuperJSON"),
        ({"payload": "{nope", "options": {"payloadType": "application/super+json"}}, "SuperJSON"),
        ({"payload": 1, "options": {"payloadType": "image/png"}}, "payloadType"),
        ({"options": "fast"}, "Invalid request body"),
        ({"options": {"ttl": "99999999w"}}, "ttl"),
        ({"options": {"maxDuration": 1e300}}, "maxDuration"),
        ({"options": {"delay": "99999999w"}}, "delay"),
    ],
)
def test_bad_options_are_400_error_and_create_nothing(srv: LiveServer, body: Any, fragment: str) -> None:
    resp = trigger(srv, "add", body)
    assert resp.status_code == 400, resp.text
    assert set(resp.json()) == {"error"} and fragment in resp.json()["error"]
    assert count_runs(srv) == 0


def test_malformed_json_unknown_task_and_too_large(srv: LiveServer) -> None:
    with srv.client() as c:
        bad = c.post("/api/v1/tasks/add/trigger", content=b"{not json")
        assert bad.status_code == 400 and "error" in bad.json()
        missing = c.post("/api/v1/tasks/nope/trigger", json={})
        assert missing.status_code == 404 and missing.json() == {"error": "Task not found"}
        big = c.post("/api/v1/tasks/add/trigger", json={"payload": "x" * 70_000})
        assert big.status_code == 413 and "error" in big.json()
        store = c.post(
            "/api/v1/tasks/add/trigger", json={"payload": "p", "options": {"payloadType": "application/store"}}
        )
        assert store.status_code == 400 and "not uploaded" in store.json()["error"]
    assert count_runs(srv) == 0


def test_superjson_payload_is_decoded_and_output_returned(srv: LiveServer) -> None:
    payload = json.dumps({"json": {"a": 5, "b": 6}, "meta": {}})
    resp = trigger(srv, "add", {"payload": payload, "options": {"payloadType": "application/super+json"}})
    assert resp.status_code == 200
    run_id = resp.json()["id"]
    assert resp.headers["x-trigger-jwt"].count(".") == 2
    run = wait_status(srv, run_id, "COMPLETED")
    assert run["payload"] == {"a": 5, "b": 6} and run["output"] == 11


def test_retrieve_has_every_required_field_and_no_nulls(srv: LiveServer) -> None:
    queued = trigger(srv, "held", {"payload": {"x": 1}, "context": {"user": "u1"}}).json()["id"]
    done = trigger(srv, "add", {"payload": {"a": 1, "b": 2}}).json()["id"]
    for run in (retrieve(srv, queued), wait_status(srv, done, "COMPLETED")):
        assert set(run) >= REQUIRED
        assert None not in run.values(), run
        assert run["status"] in STATUSES
        assert run["createdAt"].endswith("Z")
    assert retrieve(srv, queued)["isQueued"] is True
    with srv.client() as c:
        assert c.get("/api/v3/runs/run_nope").json() == {"error": "Run not found"}
        assert c.get("/api/v3/runs/run_01arz3ndektsv4rrffq69g5fav").status_code == 404


def test_request_idempotency_key_dedupes_sdk_retries(srv: LiveServer) -> None:
    headers = {"x-trigger-request-idempotency-key": "5b0b8a4e-3c4f-4a55-9a9b-1f2f3e4d5c6b"}
    first = trigger(srv, "held", {}, headers).json()
    again = trigger(srv, "held", {}, headers).json()
    assert again["id"] == first["id"] and again["isCached"] is True and first["isCached"] is False


def test_idempotency_is_scoped_to_the_task_and_released_by_cancel(srv: LiveServer) -> None:
    key = "a" * 64
    first = trigger(srv, "held", {"options": {"idempotencyKey": key}}).json()
    assert trigger(srv, "held", {"options": {"idempotencyKey": key}}).json() == {"id": first["id"], "isCached": True}
    assert trigger(srv, "echo", {"options": {"idempotencyKey": key}}).json()["id"] != first["id"]
    with srv.client() as c:
        assert c.post(f"/api/v2/runs/{first['id']}/cancel").json() == {"id": first["id"]}
    assert trigger(srv, "held", {"options": {"idempotencyKey": key}}).json()["id"] != first["id"]


def test_max_duration_times_out(srv: LiveServer) -> None:
    run_id = trigger(srv, "forever", {"options": {"maxDuration": 0.3}}).json()["id"]
    run = wait_status(srv, run_id, "TIMED_OUT")
    assert run["isFailed"] is True and run["attemptCount"] == 1


def test_cancel_stops_an_executing_run(srv: LiveServer) -> None:
    run_id = trigger(srv, "forever", {}).json()["id"]
    wait_status(srv, run_id, "EXECUTING")
    with srv.client() as c:
        c.post(f"/api/v2/runs/{run_id}/cancel", headers={"content-type": "application/json"})
        run = wait_status(srv, run_id, "CANCELED")
        assert run["isCancelled"] is True
        again = c.post(f"/api/v2/runs/{run_id}/cancel")  # already final: 200, no change
        assert again.status_code == 200


def test_priority_orders_claims_within_a_queue(srv: LiveServer) -> None:
    ids = [trigger(srv, "brief", {"options": {"priority": p}}).json()["id"] for p in (0, 60, 10)]
    with srv.client() as c:
        c.post("/api/v1/queues/prio/concurrency/override", json={"type": "custom", "concurrencyLimit": 1})
    starts = {i: wait_status(srv, i, "COMPLETED")["startedAt"] for i in ids}
    assert sorted(ids, key=lambda i: starts[i]) == [ids[1], ids[2], ids[0]]


def test_tags_metadata_and_reschedule(srv: LiveServer) -> None:
    run_id = trigger(srv, "held", {"options": {"tags": "a", "delay": "1h"}}).json()["id"]
    with srv.client() as c:
        assert c.post(f"/api/v1/runs/{run_id}/tags", json={"tags": ["b", "a"]}).status_code == 200
        assert retrieve(srv, run_id)["tags"] == ["a", "b"]
        too_many = c.post(f"/api/v1/runs/{run_id}/tags", json={"tags": ["c", "d", "e", "f"]})
        assert too_many.status_code == 400
        assert c.put(f"/api/v1/runs/{run_id}/metadata", json={"metadata": {"k": 1}}).json() == {"metadata": {"k": 1}}
        moved = c.post(f"/api/v1/runs/{run_id}/reschedule", json={"delay": "2026-12-31T00:00:00Z"}).json()
        assert moved["delayedUntil"].startswith("2026-12-31T00:00:00") and moved["status"] == "DELAYED"
        bad = c.post(f"/api/v1/runs/{run_id}/reschedule", json={"delay": "soon-ish"})
        assert bad.status_code == 400


def test_two_phase_batch_dedupes_by_index_and_records_bad_items(srv: LiveServer) -> None:
    with srv.client() as c:
        created = c.post("/api/v3/batches", json={"runCount": 3, "idempotencyKey": "bk"}).json()
        assert created["isCached"] is False and created["runCount"] == 3
        again = c.post("/api/v3/batches", json={"runCount": 3, "idempotencyKey": "bk"}).json()
        assert again["isCached"] is True and again["id"] == created["id"]
        lines = [
            {"index": 0, "task": "held", "payload": '{"json":1}', "options": {"payloadType": "application/super+json"}},
            {"index": 1, "task": "nope", "payload": None},
        ]
        ndjson = "\n".join(json.dumps(x) for x in lines).encode()
        url = f"/api/v3/batches/{created['id']}/items"
        first = c.post(url, content=ndjson, headers={"content-type": "application/x-ndjson"}).json()
        assert first["itemsAccepted"] == 1 and first["sealed"] is False and first["expectedCount"] == 3
        last = json.dumps({"index": 2, "task": "held"}).encode()
        second = c.post(url, content=ndjson + b"\n" + last, headers={"content-type": "application/x-ndjson"}).json()
        assert second["itemsAccepted"] == 1 and second["itemsDeduplicated"] == 1 and second["sealed"] is True
        batch = c.get(f"/api/v2/batches/{created['id']}").json()
        assert batch["status"] == "PARTIAL_FAILED" and len(batch["runs"]) == 2
        assert batch["processing"]["errors"][0]["index"] == 1
        bad = c.post(url, content=b"{oops", headers={"content-type": "application/x-ndjson"})
        assert bad.status_code == 400


def test_single_request_batch_is_all_or_nothing(srv: LiveServer) -> None:
    with srv.client() as c:
        bad = c.post("/api/v2/tasks/batch", json={"items": [{"task": "held"}, {"task": "nope"}]})
        assert bad.status_code == 404
        assert count_runs(srv) == 0
        ok = c.post("/api/v2/tasks/batch", json={"items": [{"task": "held"}, {"task": "held"}]}).json()
        assert ok["runCount"] == 2 and len(c.get(f"/api/v2/batches/{ok['id']}").json()["runs"]) == 2


def test_list_filters_and_pagination(srv: LiveServer) -> None:
    ids = [trigger(srv, "held", {"options": {"tags": [f"t{i % 2}"]}}).json()["id"] for i in range(5)]
    with srv.client() as c:
        page = c.get("/api/v1/runs", params={"page[size]": 2}).json()
        assert [r["id"] for r in page["data"]] == ids[::-1][:2]
        assert page["pagination"]["next"] == ids[::-1][1]
        nxt = c.get("/api/v1/runs", params={"page[size]": 2, "page[after]": page["pagination"]["next"]}).json()
        assert [r["id"] for r in nxt["data"]] == ids[::-1][2:4]
        assert len(c.get("/api/v1/runs", params={"filter[tag]": "t1"}).json()["data"]) == 2
        assert len(c.get("/api/v1/runs", params={"filter[status]": "QUEUED,DELAYED"}).json()["data"]) == 5
        assert c.get("/api/v1/runs", params={"filter[status]": "WAITING"}).json()["data"] == []
        assert c.get("/api/v1/runs", params={"filter[status]": "NOPE"}).status_code == 400
        assert len(c.get("/api/v1/runs", params={"filter[queue]": "held"}).json()["data"]) == 5
        now_ms = int(time.time() * 1000)
        assert c.get("/api/v1/runs", params={"filter[createdAt][from]": now_ms + 60_000}).json()["data"] == []
        assert c.get("/api/v1/runs", params={"page[size]": 0}).status_code == 400


def test_offloaded_payload_packets(srv: LiveServer) -> None:
    import httpx

    assert httpx.put(f"{srv.url}/api/v2/packets/payloads%2Fa.json").status_code == 401
    with srv.client() as c:
        presigned = c.put("/api/v2/packets/payloads%2Fa.json").json()
        assert presigned["storagePath"] == "payloads/a.json"
    body = json.dumps({"json": {"a": 20, "b": 1}})
    upload = httpx.put(presigned["presignedUrl"], content=body, headers={"content-type": "application/super+json"})
    assert upload.status_code == 200  # no API key: the single-use token in the URL is the credential
    again = httpx.put(presigned["presignedUrl"], content=b"{}")
    assert again.status_code == 404 and "error" in again.json()
    assert httpx.put(f"{srv.url}/api/v1/packets/upload/forged", content=b"{}").status_code == 404
    run_id = trigger(
        srv, "add", {"payload": "payloads/a.json", "options": {"payloadType": "application/store"}}
    ).json()["id"]
    run = wait_status(srv, run_id, "COMPLETED")
    assert run["payload"] == {"a": 20, "b": 1} and run["output"] == 21


def test_trigger_dev_default_attempts_unless_the_task_or_trigger_sets_them(
    live_server: Callable[..., LiveServer],
) -> None:
    srv = live_server(
        '[tasks.plain]\nnoop = true\nqueue = { name = "q0", concurrency = 0 }\n\n'
        '[tasks.configured]\nnoop = true\nqueue = "q0"\nretry = { attempts = 5 }\n'
    )
    plain = trigger(srv, "plain", {}).json()["id"]
    chosen = trigger(srv, "plain", {"options": {"maxAttempts": 2}}).json()["id"]
    configured = trigger(srv, "configured", {}).json()["id"]
    with srv.client() as c:
        attempts = {
            run_id: c.get(f"/v1/runs/{run_id.removeprefix('run_').upper()}").json()["max_attempts"]
            for run_id in (plain, chosen, configured)
        }
    assert attempts == {plain: 3, chosen: 2, configured: 5}


def test_a_webhook_task_gets_payload_and_context_and_its_json_becomes_the_output(
    live_server: Callable[..., LiveServer],
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            received.append(body)
            reply = json.dumps({"greeting": f"hi {body['context']['user']}", "n": body["payload"]["n"]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        srv = live_server(f'[tasks.notify]\nurl = "http://127.0.0.1:{hook.server_port}/hook"\n')
        run_id = trigger(srv, "notify", {"payload": {"n": 5}, "context": {"user": "ada"}}).json()["id"]
        run = wait_status(srv, run_id, "COMPLETED")
        assert run["output"] == {"greeting": "hi ada", "n": 5}
        assert received[0]["payload"] == {"n": 5} and received[0]["context"] == {"user": "ada"}
        assert received[0]["run"]["task"] == "notify"
    finally:
        hook.shutdown()
