"""The Avido dialect driven by the official `avido` Python SDK: an application under test written with the
SDK (its webhook checks each request with validate-webhook and answers), tasks created, triggered, and
their tests read back scored; every validation rule a 4xx in Avido's shape with nothing created."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import avido
import httpx
import pytest

APP_ID = "123e4567-e89b-12d3-a456-426614174000"
SECRET = "whsec_test_0123456789"


class AppUnderTest:
    """An application under test: upper-cases the prompt after checking the request with the SDK."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.client: avido.Avido | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["content-length"]))
                body = json.loads(raw)
                signature, timestamp = self.headers["x-avido-signature"], self.headers["x-avido-timestamp"]
                assert outer.client is not None
                check = outer.client.validate_webhook.validate(body=body, signature=signature, timestamp=timestamp)
                outer.calls.append({"body": body, "valid": check.valid, "signature": signature, "ts": timestamp})
                status, reply = (200, {"answer": str(body["prompt"]).upper()}) if check.valid else (401, {})
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def app_under_test() -> Iterator[AppUnderTest]:
    app = AppUnderTest()
    thread = threading.Thread(target=app.server.serve_forever, daemon=True)
    thread.start()
    yield app
    app.server.shutdown()
    app.server.server_close()


@pytest.fixture
def avido_server(live_server: Any, app_under_test: AppUnderTest, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("APP_SECRET", SECRET)
    srv = live_server(
        f'[[applications]]\nid = "{APP_ID}"\ntitle = "Support bot"\nslug = "support"\n'
        f'webhook_url = "{app_under_test.url}"\nsecret_env = "APP_SECRET"\n'
    )
    app_under_test.client = client(srv)
    return srv


def client(srv: Any, **kw: Any) -> avido.Avido:
    args = {"api_key": srv.api_key, "application_id": APP_ID, "base_url": srv.url, "max_retries": 0, **kw}
    return avido.Avido(**args)


def wait_test(c: avido.Avido, task_id: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        tests = list(c.tests.list(task_id=[task_id]))
        if tests and tests[0].status in ("COMPLETED", "FAILED"):
            return tests[0]
        assert time.monotonic() < deadline, f"test stuck: {tests}"
        time.sleep(0.1)


def test_create_trigger_and_read_the_scored_test(avido_server: Any, app_under_test: AppUnderTest) -> None:
    c = client(avido_server)
    created = c.tasks.create(
        title="Credit Card Block", description="The user wants to block their credit card",
        input_examples=["please block my card", "what is the weather"], metadata={"customerId": "1"},
        topic_id="789e4567-e89b-12d3-a456-426614174000", type="NORMAL",
        extra_body={"evalDefinitions": [{"evalDefinition": {"name": "mentions card"}, "config": {"expected": "card"}}]},
    ).task  # fmt: skip
    assert created.title == "Credit Card Block" and created.type == "NORMAL" and created.pass_rate is None
    assert created.input_examples == ["please block my card", "what is the weather"]
    assert created.metadata == {"customerId": "1"} and created.topic_id == "789e4567-e89b-12d3-a456-426614174000"
    assert created.eval_definitions[0].eval_definition.name == "mentions card"

    assert c.tasks.trigger(task_ids=[created.id]) is None  # 204
    test = wait_test(c, created.id)
    assert test.status == "COMPLETED" and test.task_id == created.id and test.application_id == APP_ID
    assert test.result is not None
    assert (test.result.passed, test.result.failed, test.result.total, test.result.pass_rate) == (1, 1, 2, 50.0)
    assert c.tests.retrieve(test.id).test.status == "COMPLETED"

    assert sorted(call["body"]["prompt"] for call in app_under_test.calls) == [
        "please block my card", "what is the weather",
    ]  # fmt: skip
    call = app_under_test.calls[0]
    assert call["valid"] is True and call["body"]["applicationId"] == APP_ID and call["body"]["testId"] == test.id
    assert call["body"]["metadata"] == {"customerId": "1"}
    forged = c.validate_webhook.validate(body={**call["body"], "prompt": "x"}, signature=call["signature"],
                                         timestamp=call["ts"])  # fmt: skip
    assert forged.valid is False

    task = c.tasks.retrieve(created.id).task
    assert task.pass_rate == 50.0 and task.last_test is not None
    updated = c.tasks.update(created.id, title="Card block", input_examples=["block card"]).task
    assert (updated.title, updated.input_examples, updated.description) == (
        "Card block", ["block card"], "The user wants to block their credit card",
    )  # fmt: skip


def test_tasks_page_through_the_sdk_and_applications_are_listed(avido_server: Any) -> None:
    c = client(avido_server)
    made = [c.tasks.create(title=f"task {n} ✓", description="d").task.id for n in range(5)]
    assert [t.id for t in c.tasks.list(limit=2)] == made  # three pages, by skip and total
    page = c.tasks.list(limit=2, skip=4)
    assert [t.id for t in page.data] == made[4:] and page.pagination is not None and page.pagination.total == 5
    apps = list(c.applications.list())
    assert [(a.id, a.title, a.slug) for a in apps] == [(APP_ID, "Support bot", "support")]
    assert c.applications.retrieve(APP_ID).data.title == "Support bot"


def _raw(srv: Any, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {"x-api-key": srv.api_key, "x-application-id": APP_ID, **kw.pop("headers", {})}
    return httpx.request(method, srv.url + path, headers=headers, timeout=10, **kw)


BAD_CREATES = [
    ({"description": "d"}, ["title"]),
    ({"title": "", "description": "d"}, ["title"]),
    ({"title": "t", "description": "   "}, ["description"]),
    ({"title": "x" * 10_001, "description": "d"}, ["title"]),
    ({"title": "a\x00b", "description": "d"}, ["title"]),
    ({"title": "t", "description": "d", "type": "BOGUS"}, ["type"]),
    ({"title": "t", "description": "d", "topicId": "not-a-uuid"}, ["topicId"]),
    ({"title": "t", "description": "d", "metadata": []}, ["metadata"]),
    ({"title": "t", "description": "d", "simulatedPromptSchema": "x"}, ["simulatedPromptSchema"]),
    ({"title": "t", "description": "d", "inputExamples": [""]}, ["inputExamples", "0"]),
    ({"title": "t", "description": "d", "unknown": 1}, []),
    ({"title": 5, "description": "d"}, ["title"]),
]


@pytest.mark.parametrize(("body", "path"), BAD_CREATES)
def test_invalid_tasks_are_422_with_issues_and_nothing_created(avido_server: Any, body: Any, path: list[str]) -> None:
    response = _raw(avido_server, "POST", "/v0/tasks", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["message"] and error["issues"] and set(error["issues"][0]) == {"code", "message", "path"}
    if path:
        assert error["issues"][0]["path"] == path
    assert _raw(avido_server, "GET", "/v0/tasks").json()["pagination"]["total"] == 0


def test_trigger_rules_and_auth_in_avido_shape(avido_server: Any) -> None:
    c = client(avido_server)
    task = c.tasks.create(title="t", description="d").task
    unknown = "223e4567-e89b-12d3-a456-426614174001"
    with pytest.raises(avido.NotFoundError) as not_found:
        c.tasks.trigger(task_ids=[task.id, unknown])
    assert not_found.value.response.json() == {"message": "Task not found"}
    bad: list[tuple[Any, list[str]]] = [
        ({"taskIds": []}, ["taskIds"]), ({"taskIds": ["nope"]}, ["taskIds", "0"]), ({"taskIds": [task.id], "x": 1}, []),
        ({}, ["taskIds"]), ({"taskIds": "x"}, ["taskIds"]), ({"taskIds": [task.id] * 101}, ["taskIds"]),
        ({"taskIds": ["\x00"]}, ["taskIds", "0"]), ({"taskIds": ["é" * 36]}, ["taskIds", "0"]),
    ]  # fmt: skip
    for body, path in bad:
        response = _raw(avido_server, "POST", "/v0/tasks/trigger", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["message"] and (not path or response.json()["issues"][0]["path"] == path)
    assert list(c.tests.list(task_id=[task.id])) == []  # nothing was triggered
    with pytest.raises(avido.NotFoundError) as missing:
        c.tasks.retrieve(unknown)
    assert missing.value.response.json() == {"message": "Task not found"}
    with pytest.raises(avido.AuthenticationError):
        client(avido_server, api_key="wrong").tasks.list()
    with pytest.raises(avido.AuthenticationError) as no_app:
        client(avido_server, application_id="323e4567-e89b-12d3-a456-426614174002").tasks.list()
    assert "application" in no_app.value.response.json()["message"]
    assert _raw(avido_server, "GET", "/v0/nothing").json() == {"message": "not found"}


def test_the_openapi_document_describes_the_avido_routes(avido_server: Any) -> None:
    doc = httpx.get(avido_server.url + "/openapi.json", timeout=10).json()
    trigger = doc["paths"]["/v0/tasks/trigger"]["post"]
    assert {"204", "401", "404", "422", "413"} <= set(trigger["responses"])
    body_ref = trigger["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert trigger["security"] and doc["components"]["schemas"][body_ref]["required"] == ["taskIds"]
    error = trigger["responses"]["422"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/AvidoError"}
    assert {"get", "put"} <= set(doc["paths"]["/v0/tasks/{id}"]) and "201" in doc["paths"]["/v0/tasks"]["post"][
        "responses"
    ]
    assert _raw(avido_server, "GET", "/v0/tasks", headers={"x-api-key": "nope"}).json() == {
        "message": "invalid API key"
    }


class IngestingApp(AppUnderTest):
    """An application under test that answers the way Avido documents: its webhook acknowledges at once (202,
    no body), and the answer goes to `ingest.create` as a trace that names the test."""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.calls.append({"body": body})
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()
                threading.Thread(target=outer.answer, args=(body,), daemon=True).start()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def answer(self, body: dict[str, Any]) -> None:
        assert self.client is not None
        time.sleep(0.2)  # the answer comes after the webhook returned
        prompt = str(body["prompt"])
        trace = {
            "type": "trace", "testId": body["testId"], "timestamp": "2026-12-04T10:00:00Z",
            "steps": [
                {"type": "llm", "event": "start", "modelId": "m", "input": prompt},
                {"type": "llm", "event": "end", "modelId": "m", "output": prompt.upper()},
            ],
        }  # fmt: skip
        result = self.client.ingest.create(events=[trace])  # type: ignore[list-item]
        self.calls.append({"ingested": [d.success for d in result.data]})


def test_an_application_that_answers_by_ingesting_a_trace(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = IngestingApp()
    thread = threading.Thread(target=app.server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("APP_SECRET", SECRET)
        srv = live_server(
            f'[[applications]]\nid = "{APP_ID}"\ntitle = "Support bot"\nwebhook_url = "{app.url}"\n'
            'secret_env = "APP_SECRET"\n'
        )
        app.client = c = client(srv)
        created = c.tasks.create(
            title="Card", description="d", input_examples=["block my card", "weather?"],
            extra_body={"evalDefinitions": [{"evalDefinition": {"name": "card"}, "config": {"expected": "CARD"}}]},
        ).task  # fmt: skip
        c.tasks.trigger(task_ids=[created.id])
        test = wait_test(c, created.id, timeout=30)
        assert test.status == "COMPLETED", test
        assert (test.result.passed, test.result.total) == (1, 2)  # "BLOCK MY CARD" has the card; the weather not
        assert {"ingested": [True]} in app.calls
        # the traces are kept: a step event for a trace of an earlier request, and a bad event, say so one by one
        result = c.ingest.create(events=[  # type: ignore[list-item]
            {"type": "llm", "event": "end", "modelId": "m", "output": "x",
             "traceId": "3c90c3cc-0d44-4b50-8888-8dd25736052a"},
            {"type": "nonsense"},
        ])  # fmt: skip
        assert [d.success for d in result.data] == [True, False] and "nonsense" in (result.data[1].error or "")
    finally:
        app.server.shutdown()
        app.server.server_close()


def test_ingest_refuses_what_is_not_a_batch_of_events(avido_server: Any) -> None:
    for body, status in (({"events": []}, 422), ({"events": [1]}, 422), ({}, 422), ({"events": [{}] * 1001}, 422)):
        resp = _raw(avido_server, "POST", "/v0/ingest", json=body)
        assert resp.status_code == status, (body, resp.text)
        assert resp.json()["message"]
    assert _raw(avido_server, "POST", "/v0/ingest", json={"events": [{"type": "trace"}]}, headers={
        "x-application-id": "nope"}).status_code == 401  # fmt: skip


def test_a_task_schedule_by_criticality(avido_server: Any) -> None:
    """runyard's own `taskSchedule: {criticality}` on create and update: HIGH daily, MEDIUM weekly, LOW every two
    weeks, rendered as Avido's taskSchedule and filtered by the SDK's schedule_criticality."""
    c = client(avido_server)
    high = c.tasks.create(title="daily", description="d", extra_body={"taskSchedule": {"criticality": "HIGH"}}).task
    assert high.task_schedule is not None
    assert (high.task_schedule.criticality, high.task_schedule.cron) == ("HIGH", "@daily")
    assert high.task_schedule.task_id == high.id and high.task_schedule.application_id == APP_ID
    assert high.task_schedule.next_run_at is not None and high.task_schedule.last_run_at is None
    plain = c.tasks.create(title="never", description="d").task
    assert plain.task_schedule is None
    assert [t.id for t in c.tasks.list(schedule_criticality=["HIGH"])] == [high.id]
    assert list(c.tasks.list(schedule_criticality=["LOW"])) == []
    low = c.tasks.update(plain.id, extra_body={"taskSchedule": {"criticality": "low"}}).task
    assert low.task_schedule is not None and (low.task_schedule.criticality, low.task_schedule.cron) == (
        "LOW", "@every 336h",
    )  # fmt: skip
    unscheduled = c.tasks.update(high.id, extra_body={"taskSchedule": None}).task
    assert unscheduled.task_schedule is None and c.tasks.retrieve(high.id).task.task_schedule is None
    schedules = _raw(avido_server, "GET", "/v1/schedules").json()["schedules"]
    assert [s["external_id"] for s in schedules] == [plain.id]  # the native view of the same schedule
    bad = _raw(avido_server, "POST", "/v0/tasks", json={"title": "t", "description": "d",
                                                         "taskSchedule": {"criticality": "SOMETIMES"}})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["issues"][0]["path"] == ["taskSchedule", "criticality"]
    assert len(list(c.tasks.list())) == 2
