"""Avido's `POST /v0/ingest {events: [...]}`: traces and their steps, as the `avido` SDK's `ingest.create`
sends them, kept in the engine's span store. A trace is one span of the project "avido:<application id>"
(its input: the first step's input; its output: the last step's output); each step event is a span of the
same trace. A trace that names a `testId` is also kept under the project "suite-answers:<testId>", where the
test's evaluation finds the answer when the application's webhook reply carried none."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api.avido import app_of
from runyard.api.avido_wire import decode
from runyard.api.common import Endpoint, json_response, read_body
from runyard.evals.service import SUITE_ANSWERS
from runyard.evals.spec import Span
from runyard.ids import now_us

MAX_EVENTS = 1000
STEP_TYPES = frozenset({"llm", "tool", "retriever", "reranker", "agent", "embedding", "guardrail", "evaluator",
                        "log", "group", "response", "request"})  # fmt: skip
_HEX = re.compile(r"^[0-9a-f]{1,64}$")


class IngestBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    events: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


class IngestResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    success: bool
    id: str | None = None
    error: str | None = None


class IngestResponse(msgspec.Struct, kw_only=True):
    data: list[IngestResult]


def _hex_id(raw: Any) -> str | None:
    """A trace or step id as hex (a uuid loses its dashes); None when absent or not hex."""
    if not isinstance(raw, str) or not raw:
        return None
    text = raw.replace("-", "").lower()
    return text if _HEX.match(text) else None


def _time_us(raw: Any) -> int:
    if isinstance(raw, str) and raw:
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            us = int(when.timestamp() * 1_000_000)
            if 0 <= us < 253_402_300_800_000_000:
                return us
        except ValueError:
            pass
    return now_us()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


def _step_span(project: str, trace_id: str, step: dict[str, Any], parent: str) -> Span:
    attributes: dict[str, Any] = {"avido.type": str(step.get("type")), "avido.event": str(step.get("event", ""))}
    for key, name in (("input", "input.value"), ("output", "output.value"), ("modelId", "llm.model_name"),
                      ("name", "avido.name"), ("error", "avido.error")):  # fmt: skip
        if step.get(key) is not None:
            attributes[name] = _text(step[key])
    when = _time_us(step.get("timestamp"))
    end = _time_us(step.get("endTime")) if step.get("endTime") else when
    return Span(project=project, trace_id=trace_id, span_id=uuid.uuid4().hex, parent_span_id=parent,
                name=str(step.get("name") or step.get("type")), start_us=when, end_us=end, attributes=attributes,
                status_code=2 if step.get("error") else 0)  # fmt: skip


def spans_of(app_id: str, events: list[dict[str, Any]]) -> tuple[list[Span], list[IngestResult]]:
    """The spans the events make, and one result per event (an event that cannot be kept says why)."""
    project = f"avido:{app_id}"
    traces: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    loose: list[tuple[str, dict[str, Any]]] = []
    results: list[IngestResult] = []
    for event in events:
        kind = event.get("type")
        if kind == "trace":
            trace_id = _hex_id(event.get("traceId")) or uuid.uuid4().hex
            steps = [s for s in event.get("steps") or [] if isinstance(s, dict)]
            traces[trace_id] = (event, steps)
            results.append(IngestResult(success=True, id=trace_id))
        elif kind in STEP_TYPES:
            parent = _hex_id(event.get("traceId"))
            if parent is None:
                results.append(IngestResult(success=False, error="a step needs the traceId of its trace"))
                continue
            loose.append((parent, event))
            results.append(IngestResult(success=True, id=parent))
        else:
            results.append(IngestResult(success=False, error=f"unknown event type {kind!r}"))
    spans: list[Span] = []
    for trace_id, event in loose:
        if trace_id in traces:
            traces[trace_id][1].append(event)
        else:
            spans.append(_step_span(project, trace_id, event, ""))
    for trace_id, (event, steps) in traces.items():
        inputs = [s["input"] for s in steps if s.get("input") is not None]
        outputs = [s["output"] for s in steps if s.get("output") is not None]
        attributes: dict[str, Any] = {"avido.type": "trace", "avido.steps": len(steps)}
        if inputs:
            attributes["input.value"] = _text(inputs[0])
        if outputs:
            attributes["output.value"] = _text(outputs[-1])
        for key, name in (("testId", "avido.test_id"), ("referenceId", "avido.reference_id"),
                          ("metadata", "metadata")):  # fmt: skip
            if event.get(key) is not None:
                attributes[name] = event[key] if key == "metadata" else str(event[key])
        when = _time_us(event.get("timestamp"))
        trace = Span(project=project, trace_id=trace_id, span_id=trace_id[:64], name="trace", start_us=when,
                     end_us=when, attributes=attributes, status_code=2 if event.get("hasError") else 0)  # fmt: skip
        spans.append(trace)
        spans += [_step_span(project, trace_id, s, trace.span_id) for s in steps]
        test_id = event.get("testId")
        if isinstance(test_id, str) and test_id:
            spans.append(msgspec.structs.replace(trace, project=SUITE_ANSWERS.format(run_id=test_id)))
    return spans, results


async def ingest(request: Request) -> Response:
    app = app_of(request)
    body: IngestBody = decode(await read_body(request), IngestBody)  # 1 to MAX_EVENTS, in Avido's words
    spans, results = spans_of(app.id, body.events)
    await request.app.state.service.evaluations.ingest_spans(spans)
    return json_response(IngestResponse(data=results))


ENDPOINTS = [
    Endpoint("POST", "/v0/ingest", ingest, f"Ingest traces and steps (1 to {MAX_EVENTS} events)", "avido",
             body=IngestBody, response=IngestResponse,
             errors={401: "missing or invalid x-api-key, or x-application-id names no application",
                     400: "the body is not JSON", 413: "the body is over the server's limit",
                     422: "invalid input: {message, issues: [{code, message, path}]}, nothing kept"}),
]  # fmt: skip
