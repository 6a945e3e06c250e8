"""Spans sent by the standard OpenTelemetry exporter (OTLP/HTTP protobuf, plain and gzip) land in the span
store per project, and an Arize project-based evaluation task scores the spans of its data window: once
each unless asked to override. JSON exports, duplicates, and bad exports are handled too."""

from __future__ import annotations

import base64
import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

SPACE = "U3BhY2U6MQ=="


def send_spans(url: str, key: str, project: str, answers: list[str], *, gzip_it: bool = False) -> None:
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers={"authorization": f"Bearer {key}"},
        compression=Compression.Gzip if gzip_it else Compression.NoCompression,
    )  # fmt: skip
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for n, answer in enumerate(answers):
        with tracer.start_as_current_span("llm") as span:
            span.set_attribute("input.value", f"question {n}")
            if answer:
                span.set_attribute("output.value", answer)
            span.set_attribute("llm.token_count.total", 12 + n)
            span.set_attribute("tags", ["a", "b"])
    provider.shutdown()


def _client(srv: Any) -> httpx.Client:
    return httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {srv.api_key}"}, timeout=30)


def _wait(http: httpx.Client, run_id: str) -> dict[str, Any]:
    for _ in range(300):
        run: dict[str, Any] = http.get(f"/v2/task-runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def test_exported_spans_are_evaluated_by_a_project_task_once_each(live_server: Any) -> None:
    srv = live_server("")
    send_spans(srv.url, srv.api_key, "support-bot", ["Paris is the capital", "I do not know", ""])
    send_spans(srv.url, srv.api_key, "support-bot", ["Rome, I think"], gzip_it=True)
    send_spans(srv.url, srv.api_key, "other-bot", ["Paris"])
    http = _client(srv)
    projects = http.get("/v2/projects").json()["projects"]
    assert [p["name"] for p in projects] == ["other-bot", "support-bot"]
    project = projects[1]["id"]
    assert base64.b64decode(project) == b"Project:support-bot"
    assert http.get(f"/v2/projects/{project}").json()["name"] == "support-bot"

    config = {"type": "MANAGED", "name": "capital", "managed_evaluator": "CONTAINS_ANY_KEYWORD",
              "variables": ["output"], "static_params": [{"name": "keywords", "value": ["Paris", "Rome"]}]}  # fmt: skip
    version = {"commit_message": "v1", "code_config": config}
    evaluator = http.post(
        "/v2/evaluators", json={"space_id": SPACE, "name": "capital", "type": "CODE", "version": version}
    )
    assert evaluator.status_code == 201, evaluator.text
    task = http.post("/v2/tasks", json={"name": "capitals", "type": "code_evaluation", "project_id": project,
                                        "evaluators": [{"evaluator_id": evaluator.json()["id"]}]}).json()  # fmt: skip
    now = datetime.now(UTC)
    window = {
        "data_start_time": (now - timedelta(hours=1)).isoformat(),
        "data_end_time": (now + timedelta(minutes=1)).isoformat(),
    }
    resp = http.post(f"/v2/tasks/{task['id']}/trigger", json=window)
    assert resp.status_code == 201, resp.text
    first = _wait(http, resp.json()["id"])
    # four spans of the project: three answered (two name a capital... all three are scored), one without output
    assert (first["status"], first["num_successes"], first["num_errors"], first["num_skipped"]) == (
        "completed",
        3,
        0,
        1,
    )

    again = _wait(http, http.post(f"/v2/tasks/{task['id']}/trigger", json=window).json()["id"])
    assert again["status"] == "cancelled" and "no spans" in again["failure_reason"]  # each span evaluated once
    forced = _wait(
        http, http.post(f"/v2/tasks/{task['id']}/trigger", json=window | {"override_evaluations": True}).json()["id"]
    )
    assert forced["num_successes"] == 3
    capped = _wait(
        http,
        http.post(
            f"/v2/tasks/{task['id']}/trigger", json=window | {"override_evaluations": True, "max_spans": 2}
        ).json()["id"],
    )
    assert capped["num_successes"] + capped["num_skipped"] == 2


KV = {"key": "x", "value": {"doubleValue": 1.5}}


def wrap(span: dict[str, Any]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def test_json_exports_duplicates_and_bad_exports(live_server: Any) -> None:
    srv = live_server("")
    http = _client(srv)
    start = time.time_ns()
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat",
            "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1_000_000),
            "attributes": [{"key": "output.value", "value": {"stringValue": "hi"}},
                           {"key": "n", "value": {"intValue": "7"}}, {"key": "ok", "value": {"boolValue": True}},
                           {"key": "kv", "value": {"kvlistValue": {"values": [KV]}}}],
            "status": {"code": 1}}  # fmt: skip
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                               "scopeSpans": [{"spans": [span]}]}]}  # fmt: skip
    for _ in range(2):  # an exporter's retry: kept once
        resp = http.post("/v1/traces", json=body)
        assert resp.status_code == 200 and resp.json() == {}
    gz = gzip.compress(json.dumps(body).encode())
    resp = http.post("/v1/traces", content=gz, headers={"content-type": "application/json", "content-encoding": "gzip"})
    assert resp.status_code == 200
    [project] = http.get("/v2/projects").json()["projects"]
    assert project["name"] == "svc"
    assert srv.runtime is not None
    bad = [
        (b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "application/x-protobuf", 400),
        (b"\x0a\x05\x1a\x03abc\x58\x01", "application/x-protobuf", 200),  # fields it does not read are skipped
        (b"not json", "application/json", 400),
        (json.dumps({"resourceSpans": [1]}).encode(), "application/json", 400),
        (wrap(span | {"startTimeUnixNano": "9" * 30}), "application/json", 400),
        (wrap(span | {"spanId": "not hex"}), "application/json", 400),
        (b"{}", "text/plain", 415),
    ]  # fmt: skip
    for content, kind, status in bad:
        resp = http.post("/v1/traces", content=content, headers={"content-type": kind})
        assert resp.status_code == status, (content, resp.text)
        if status >= 400:
            assert resp.headers["content-type"] == "application/problem+json"
    resp = http.post("/v1/traces", content=b"\x1f\x8b garbage", headers={"content-type": "application/json",
                                                                         "content-encoding": "gzip"})  # fmt: skip
    assert resp.status_code == 400
    assert httpx.post(f"{srv.url}/v1/traces", json=body).status_code == 401


@pytest.mark.parametrize("size", [1, 300])
def test_protobuf_reader_matches_the_official_encoding(size: int) -> None:
    """The wire reader against messages built by opentelemetry-proto's own classes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

    from runyard.api.otlp import decode_protobuf

    attrs = [KeyValue(key="neg", value=AnyValue(int_value=-5)), KeyValue(key="d", value=AnyValue(double_value=0.25)),
             KeyValue(key="arr", value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="é")]))),
             KeyValue(key="b", value=AnyValue(bytes_value=b"\x01\x02"))]  # fmt: skip
    spans = [Span(trace_id=bytes(range(16)), span_id=n.to_bytes(8, "big"), parent_span_id=b"\xaa" * 8, name=f"s{n}",
                  kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=1_700_000_000_123_456_789,
                  end_time_unix_nano=1_700_000_001_000_000_000, attributes=attrs,
                  status=Status(code=Status.STATUS_CODE_ERROR, message="boom"))
             for n in range(size)]  # fmt: skip
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    decoded = decode_protobuf(request.SerializeToString())
    assert len(decoded) == size
    first = decoded[-1]
    assert first.trace_id == bytes(range(16)).hex() and first.span_id == (size - 1).to_bytes(8, "big").hex()
    assert first.parent_span_id == "aa" * 8 and first.name == f"s{size - 1}" and first.kind == 3
    assert first.start_us == 1_700_000_000_123_456 and first.end_us == 1_700_000_001_000_000
    assert first.attributes == {"neg": -5, "d": 0.25, "arr": ["é"], "b": "0102"}
    assert (first.status_code, first.status_message, first.project) == (2, "boom", "default")
