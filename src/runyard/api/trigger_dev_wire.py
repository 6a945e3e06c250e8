"""Trigger.dev v3 wire format in: request types, ids, payload decoding, options -> TriggerRequest.

Rules from the contract (triggerdev-trigger-task.txt): at most 5 tags, each under 64 characters; ttl a
duration string or whole seconds >= 1; delay a duration or a date-time; queue.concurrencyLimit 0..1000.
Everything else the SDK sends is accepted; what the engine can honour is honoured.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import msgspec
from starlette.responses import Response

from runyard.api.common import TOO_DEEP, ApiError, ProblemDetail, json_response
from runyard.durations import parse_due_us, parse_duration
from runyard.ids import is_ulid, now_us
from runyard.models import RunStatus
from runyard.service import MAX_PRIORITY, TriggerRequest

MAX_TAGS = 5
MAX_TAG_LENGTH = 63  # "less than 64 characters"
MAX_QUEUE_LIMIT = 1000
RUN_PREFIX = "run_"
BATCH_PREFIX = "batch_"

TO_TRIGGER_STATUS = {
    RunStatus.DELAYED: "DELAYED", RunStatus.QUEUED: "QUEUED", RunStatus.EXECUTING: "EXECUTING",
    RunStatus.COMPLETED: "COMPLETED", RunStatus.FAILED: "FAILED", RunStatus.CANCELED: "CANCELED",
    RunStatus.CRASHED: "CRASHED", RunStatus.TIMED_OUT: "TIMED_OUT", RunStatus.EXPIRED: "EXPIRED",
    RunStatus.SYSTEM_FAILURE: "SYSTEM_FAILURE",
}  # fmt: skip


class TriggerDevError(msgspec.Struct):
    """Trigger.dev's error body: the SDK reads `error` as the message."""

    error: str


def render_error(status: int, message: str, errors: list[ProblemDetail] | None = None) -> Response:
    return json_response(TriggerDevError(error=message), status)


FROM_TRIGGER_STATUS: dict[str, list[RunStatus]] = {v: [k] for k, v in TO_TRIGGER_STATUS.items()}
FROM_TRIGGER_STATUS["DEQUEUED"] = [RunStatus.EXECUTING]
FROM_TRIGGER_STATUS["PENDING_VERSION"] = []
FROM_TRIGGER_STATUS["WAITING"] = []


class QueueOption(msgspec.Struct, kw_only=True):
    name: str
    concurrencyLimit: int | None = None


class TriggerOptions(msgspec.Struct, kw_only=True):
    queue: QueueOption | None = None
    concurrencyKey: str | int | float | None = None
    idempotencyKey: str | None = None
    idempotencyKeyTTL: str | None = None
    ttl: str | int | float | None = None
    delay: str | None = None
    tags: str | list[str] | None = None
    payloadType: str | None = None
    maxAttempts: int | None = None
    maxDuration: float | None = None
    metadata: Any = None
    priority: float | None = None
    machine: Any = None
    lockToVersion: str | None = None
    test: bool | None = None
    parentRunId: str | None = None


class TriggerBody(msgspec.Struct, kw_only=True):
    payload: Any = None
    context: Any = None
    options: TriggerOptions | None = None


class BatchItem(msgspec.Struct, kw_only=True):
    task: str
    payload: Any = None
    context: Any = None
    options: TriggerOptions | None = None


class BatchBody(msgspec.Struct, kw_only=True):
    items: Annotated[list[BatchItem], msgspec.Meta(min_length=1, max_length=1000)]


class StreamItem(msgspec.Struct, kw_only=True):
    index: int
    task: str
    payload: Any = None
    options: TriggerOptions | None = None


class CreateBatchBody(msgspec.Struct, kw_only=True):
    runCount: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    taskIdentifiers: list[str] | None = None
    idempotencyKey: str | None = None


class RescheduleBody(msgspec.Struct, kw_only=True):
    delay: str


class TagsBody(msgspec.Struct, kw_only=True):
    tags: str | list[str]


class MetadataBody(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any]


class ReplayBody(msgspec.Struct, kw_only=True):
    payload: Any = msgspec.UNSET
    payloadType: str | None = None
    tags: str | list[str] | None = None
    metadata: dict[str, Any] | None = None


class QueueOverrideBody(msgspec.Struct, kw_only=True):
    type: str = "custom"
    concurrencyLimit: Annotated[int, msgspec.Meta(ge=0, le=1000)]


def bad(message: str) -> ApiError:
    return ApiError(400, message)


def decode(raw: bytes, type_: type[Any]) -> Any:
    """Decode a JSON body; an empty body is `{}`. Every failure is a 400 with the field named."""
    try:
        return msgspec.json.decode(raw if raw.strip() else b"{}", type=type_)
    except msgspec.ValidationError as exc:
        raise bad(f"Invalid request body: {exc}".replace("`$.", "`")) from None
    except msgspec.DecodeError:
        raise bad("Invalid request body: the body is not valid JSON") from None
    except RecursionError:
        raise bad(f"Invalid request body: {TOO_DEEP}") from None


def run_friendly_id(run_id: str) -> str:
    return RUN_PREFIX + run_id.lower()


def parse_run_id(value: str) -> str | None:
    raw = value.removeprefix(RUN_PREFIX).upper()
    return raw if is_ulid(raw) else None


def batch_friendly_id(batch_id: str) -> str:
    return BATCH_PREFIX + batch_id.lower()


def parse_batch_id(value: str) -> str | None:
    raw = value.removeprefix(BATCH_PREFIX).upper()
    return raw if is_ulid(raw) else None


def decode_payload(payload: Any, payload_type: str | None) -> bytes:
    """The payload as the engine stores it (JSON text of the decoded value)."""
    if payload_type in (None, "", "application/json"):
        if payload_type and isinstance(payload, str):
            try:
                return msgspec.json.encode(json.loads(payload))
            except ValueError:
                raise bad("payload is not valid JSON for payloadType application/json") from None
        return msgspec.json.encode(payload)
    if payload_type == "application/super+json":
        if not isinstance(payload, str):
            raise bad("payload must be a SuperJSON string when payloadType is application/super+json")
        try:
            document = json.loads(payload)
        except ValueError:
            raise bad("payload is not valid SuperJSON") from None
        return msgspec.json.encode(document.get("json") if isinstance(document, dict) else None)
    if payload_type == "text/plain":
        return msgspec.json.encode(payload if isinstance(payload, str) else json.dumps(payload))
    if payload_type == "application/store":
        raise ApiError(422, "offloaded payloads (application/store) are not supported; send the payload inline")
    raise bad(f"unsupported payloadType {payload_type!r}")


def parse_tags(tags: str | list[str] | None) -> list[str]:
    found = [tags] if isinstance(tags, str) else list(tags or [])
    if len(found) > MAX_TAGS:
        raise bad(f"Too many tags: at most {MAX_TAGS} tags per run, got {len(found)}")
    for tag in found:
        if not tag:
            raise bad("Tags cannot be empty")
        if len(tag) > MAX_TAG_LENGTH:
            raise bad(f"Tag {tag[:20]!r}... is too long: tags must be less than 64 characters")
    return found


def parse_ttl(ttl: str | int | float | None) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, int | float) and not isinstance(ttl, bool):
        if ttl != int(ttl) or ttl < 1:
            raise bad("ttl must be a whole number of seconds, at least 1, or a duration like '1h42m'")
        return float(ttl)
    try:
        seconds = parse_duration(ttl)
    except ValueError as exc:
        raise bad(f"Invalid ttl: {exc}") from None
    if seconds < 1:
        raise bad("ttl must be at least 1 second")
    return seconds


def parse_delay(delay: str | None) -> int | None:
    """An absolute due time in microseconds, from `30s`/`1h`/`2w` or an ISO date-time."""
    if delay is None:
        return None
    try:
        return parse_due_us(delay, now_us())
    except ValueError as exc:
        raise bad(f"Invalid delay: {exc}") from None


def parse_priority(priority: float | None) -> int:
    if priority is None:
        return 0
    if priority < 0 or priority > MAX_PRIORITY:
        raise bad(f"priority must be between 0 and {MAX_PRIORITY} seconds")
    return round(priority)


def _concurrency_key(key: str | int | float | None) -> str:
    if key is None:
        return ""
    if isinstance(key, float) and key.is_integer():
        return str(int(key))
    return str(key)


def to_request(task: str, body: TriggerBody | BatchItem | StreamItem, request_key: str | None = None) -> TriggerRequest:
    """Validate a trigger's options and translate them to the engine's request."""
    opts = body.options or TriggerOptions()
    queue = limit = None
    set_limit = False
    if opts.queue is not None:
        if not opts.queue.name.strip():
            raise bad("queue.name cannot be empty")
        queue = opts.queue.name
        if opts.queue.concurrencyLimit is not None:
            if not 0 <= opts.queue.concurrencyLimit <= MAX_QUEUE_LIMIT:
                raise bad(f"queue.concurrencyLimit must be between 0 and {MAX_QUEUE_LIMIT}")
            limit, set_limit = opts.queue.concurrencyLimit, True
    if opts.maxAttempts is not None and opts.maxAttempts < 1:
        raise bad("maxAttempts must be at least 1")
    if opts.maxDuration is not None and opts.maxDuration <= 0:
        raise bad("maxDuration must be a positive number of seconds")
    if opts.metadata is not None and not isinstance(opts.metadata, dict):
        raise bad("metadata must be an object")
    idempotency_ttl = None
    if opts.idempotencyKeyTTL is not None:
        try:
            idempotency_ttl = parse_duration(opts.idempotencyKeyTTL)
        except ValueError as exc:
            raise bad(f"Invalid idempotencyKeyTTL: {exc}") from None
    context = getattr(body, "context", None)
    return TriggerRequest(
        task=task,
        payload=decode_payload(body.payload, opts.payloadType),
        context=msgspec.json.encode(context) if context is not None else None,
        tags=parse_tags(opts.tags),
        metadata=opts.metadata,
        queue=queue,
        queue_limit=limit,
        set_queue_limit=set_limit,
        concurrency_key=_concurrency_key(opts.concurrencyKey),
        idempotency_key=opts.idempotencyKey or None,
        idempotency_ttl_s=idempotency_ttl,
        request_key=request_key,
        priority=parse_priority(opts.priority),
        delay_until=parse_delay(opts.delay),
        ttl_s=parse_ttl(opts.ttl),
        max_attempts=opts.maxAttempts,
        max_duration_s=opts.maxDuration,
    )
