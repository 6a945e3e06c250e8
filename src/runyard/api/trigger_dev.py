"""The Trigger.dev v3 dialect: the routes `@trigger.dev/sdk` 4.x calls, translated onto the engine."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from runyard.api import trigger_dev_schedules
from runyard.api.auth import PACKET_UPLOADS
from runyard.api.common import (
    EPOCH_MS_SCHEMA,
    TOO_DEEP,
    ApiError,
    Endpoint,
    csv_schema,
    int_schema,
    json_response,
    parse_int,
    read_body,
)
from runyard.api.dialect import Dialect
from runyard.api.trigger_dev_render import (
    ENV,
    BatchResponse,
    BatchV3Response,
    CreateBatchResponse,
    IdResponse,
    MessageResponse,
    MetadataResponse,
    PacketUrl,
    Pagination,
    QueueItem,
    RetrievedRun,
    RunList,
    StreamItemsResponse,
    TriggerResponse,
    render_batch,
    render_listed,
    render_retrieved,
)
from runyard.api.trigger_dev_wire import (
    FROM_TRIGGER_STATUS,
    MAX_TAGS,
    TO_TRIGGER_STATUS,
    BatchBody,
    CreateBatchBody,
    MetadataBody,
    QueueOverrideBody,
    ReplayBody,
    RescheduleBody,
    StreamItem,
    TagsBody,
    TriggerBody,
    TriggerDevError,
    bad,
    batch_friendly_id,
    decode,
    decode_payload,
    parse_batch_id,
    parse_delay,
    parse_run_id,
    parse_tags,
    render_error,
    run_friendly_id,
    to_request,
)
from runyard.durations import parse_duration, parse_time_us
from runyard.errors import NotFoundError
from runyard.ids import now_us
from runyard.models import RetryPolicy, Run, RunStatus, TaskDef
from runyard.records import BatchItemError, ListRunsParams
from runyard.service import Service, TriggerRequest

MAX_BATCH = 1000
PACKET_PATH_SCHEMA = {"type": "string", "pattern": r"^[^\x00-\x1f\x7f-\x9f.][^\x00-\x1f\x7f-\x9f]{0,1023}$"}
TRIGGER_DEV_ATTEMPTS = 3  # Trigger.dev's default maxAttempts when neither the task nor the trigger sets one


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _task(service: Service, name: str) -> TaskDef:
    task = service.tasks.get(name)
    if task is None:
        raise ApiError(404, "Task not found")
    return task


def _engine_request(service: Service, task_name: str, item: Any, request_key: str | None = None) -> TriggerRequest:
    task = _task(service, task_name)
    req = to_request(task_name, item, request_key)
    if req.max_attempts is None and task.retry == RetryPolicy():
        req.max_attempts = TRIGGER_DEV_ATTEMPTS
    return req


async def _inline(service: Service, item: Any) -> Any:
    """Replace an offloaded payload (`application/store`: a path uploaded through the packets API) by its
    content, so the item decodes like any other."""
    options = item.options
    if options is None or options.payloadType != "application/store":
        return item
    packet = await service.packet(str(item.payload))
    if packet is None:
        raise bad(f"payload packet {str(item.payload)[:100]!r} was not uploaded (PUT /api/v2/packets first)")
    item.payload, options.payloadType = packet[0].decode(errors="replace"), packet[1]
    return item


async def _token(request: Request, scopes: list[str]) -> dict[str, str]:
    """The public access token the SDK hands to browsers: read access to what was just created."""
    return {"x-trigger-jwt": await _service(request).public_token({"sub": ENV["id"], "pub": True, "scopes": scopes})}


_TOKEN_READS = (  # the routes a public access token may read, as Trigger.dev's (allowJWT), and the scope kind
    (re.compile(r"/api/v3/runs/([^/]+)"), "runs"),
    (re.compile(r"/api/v2/batches/([^/]+)"), "batch"),
)


def token_grants(scopes: Sequence[str], method: str, path: str) -> bool:
    """`read:runs:<id>` reads that run, `read:batch:<id>` that batch, `read:runs` every run; `read:all` and
    `admin` read all of these. Nothing else accepts a public token."""
    if method not in ("GET", "HEAD"):
        return False
    for pattern, kind in _TOKEN_READS:
        if found := pattern.fullmatch(path):
            wanted = {f"read:{kind}:{found.group(1)}", f"read:{kind}", "read:all", "admin"}
            return any(scope in wanted for scope in scopes)
    return False


async def _run(request: Request) -> Run:
    run_id = parse_run_id(str(request.path_params["runId"]))
    if run_id is None:
        raise ApiError(404, "Run not found")
    try:
        return await _service(request).get_run(run_id)
    except NotFoundError:
        raise ApiError(404, "Run not found") from None


# -- triggering ---------------------------------------------------------------------------------------
async def trigger_task(request: Request) -> Response:
    service = _service(request)
    name = unquote(str(request.path_params["taskIdentifier"]))
    body: TriggerBody = await _inline(service, decode(await read_body(request), TriggerBody))
    req = _engine_request(service, name, body, request.headers.get("x-trigger-request-idempotency-key"))
    result = await service.trigger(req)
    run_id = run_friendly_id(result.run.id)
    response = TriggerResponse(id=run_id, isCached=result.cached)
    return json_response(response, 200, headers=await _token(request, [f"read:runs:{run_id}"]))


async def batch_trigger(request: Request) -> Response:
    """`POST /api/v2/tasks/batch`: every item is validated first; all runs are created, or none."""
    service = _service(request)
    body: BatchBody = decode(await read_body(request), BatchBody)
    if not 1 <= len(body.items) <= MAX_BATCH:
        raise bad(f"a batch holds 1 to {MAX_BATCH} items")
    reqs = [_engine_request(service, item.task, await _inline(service, item)) for item in body.items]
    batch, _ = await service.create_batch(len(reqs), sorted({i.task for i in body.items}))
    await service.trigger_many(reqs, batch_id=batch.id)
    await service.seal_batch(batch.id)
    batch_id = batch_friendly_id(batch.id)
    return json_response(
        BatchV3Response(id=batch_id, runCount=len(reqs)), headers=await _token(request, [f"read:batch:{batch_id}"])
    )


async def create_batch(request: Request) -> Response:
    """Phase 1 of the SDK's two-phase batch: the batch record (idempotent on its key)."""
    body: CreateBatchBody = decode(await read_body(request), CreateBatchBody)
    if not 1 <= body.runCount <= MAX_BATCH:
        raise bad(f"runCount must be between 1 and {MAX_BATCH}")
    batch, cached = await _service(request).create_batch(body.runCount, body.taskIdentifiers or [], body.idempotencyKey)
    batch_id = batch_friendly_id(batch.id)
    response = CreateBatchResponse(
        id=batch_id, runCount=batch.run_count, isCached=cached, idempotencyKey=batch.idempotency_key
    )
    return json_response(response, headers=await _token(request, [f"read:batch:{batch_id}"]))


async def stream_batch_items(request: Request) -> Response:
    """Phase 2: NDJSON items, deduplicated by index. Valid items of one request are committed together;
    invalid ones are recorded as the batch's processing errors and count toward sealing."""
    service = _service(request)
    batch_id = parse_batch_id(str(request.path_params["batchId"]))
    if batch_id is None:
        raise ApiError(404, "Batch not found")
    try:
        batch = await service.get_batch(batch_id)
    except NotFoundError:
        raise ApiError(404, "Batch not found") from None
    raw = await read_body(request)
    errored = {e.index for e in batch.errors}
    errors: list[BatchItemError] = []
    reqs: list[TriggerRequest] = []
    indices: list[int] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = msgspec.json.decode(line, type=StreamItem)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise bad(f"Invalid batch item on line {n}: {exc}") from None
        except RecursionError:
            raise bad(f"Invalid batch item on line {n}: {TOO_DEEP}") from None
        if not 0 <= item.index < batch.run_count:
            raise bad(f"item index {item.index} is outside the batch of {batch.run_count}")
        if item.index in errored or item.index in indices:
            continue
        try:
            reqs.append(_engine_request(service, item.task, await _inline(service, item)))
            indices.append(item.index)
        except ApiError as exc:
            errors.append(BatchItemError(index=item.index, task=item.task, error=exc.message))
            errored.add(item.index)
    results = await service.trigger_many(reqs, batch_id=batch_id, indices=indices) if reqs else []
    accepted = sum(1 for r in results if not r.cached)
    deduplicated = len(results) - accepted
    batch = await service.record_batch_items(batch_id, errors)
    sealed = batch.sealed
    done = len(batch.run_ids) + len(batch.errors)
    response = StreamItemsResponse(
        id=batch_friendly_id(batch_id), itemsAccepted=accepted, itemsDeduplicated=deduplicated, sealed=sealed,
        enqueuedCount=None if sealed else done, expectedCount=None if sealed else batch.run_count,
    )  # fmt: skip
    return json_response(response)


async def retrieve_batch(request: Request) -> Response:
    batch_id = parse_batch_id(str(request.path_params["batchId"]))
    try:
        batch = await _service(request).get_batch(batch_id or "")
    except NotFoundError:
        raise ApiError(404, "Batch not found") from None
    return json_response(render_batch(batch))


# -- runs ---------------------------------------------------------------------------------------------
async def retrieve_run(request: Request) -> Response:
    return json_response(render_retrieved(await _run(request)))


def _csv(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    return [v for v in raw.split(",") if v] if raw else None


async def list_runs(request: Request) -> Response:
    q = request.query_params
    try:
        size = parse_int(q.get("page[size]", "25"), 1, 100)
    except ValueError:
        raise bad("page[size] must be between 1 and 100") from None
    if not 1 <= size <= 100:
        raise bad("page[size] must be between 1 and 100")
    statuses = None
    if wanted := _csv(request, "filter[status]"):
        unknown = [s for s in wanted if s not in FROM_TRIGGER_STATUS]
        if unknown:
            raise bad(f"unknown status {unknown[0]!r}")
        statuses = sorted({st for s in wanted for st in FROM_TRIGGER_STATUS[s]})
    created_from = created_to = None
    try:
        if q.get("filter[createdAt][from]"):
            created_from = parse_time_us(q["filter[createdAt][from]"])
        if q.get("filter[createdAt][to]"):
            created_to = parse_time_us(q["filter[createdAt][to]"])
        if q.get("filter[createdAt][period]"):
            created_from = now_us() - int(parse_duration(q["filter[createdAt][period]"]) * 1_000_000)
    except ValueError as exc:
        raise bad(str(exc)) from None
    queues = _csv(request, "filter[queue]")  # a bare custom queue name, or task/<id> for a task's queue
    batch = q.get("filter[batch]")
    after = parse_run_id(q["page[after]"]) if q.get("page[after]") else None
    before = parse_run_id(q["page[before]"]) if q.get("page[before]") else None
    params = ListRunsParams(
        limit=size, after=after, before=before, statuses=statuses, tasks=_csv(request, "filter[taskIdentifier]"),
        tags=_csv(request, "filter[tag]"), queues=queues, batch_id=parse_batch_id(batch) if batch else None,
        created_from=created_from, created_to=created_to,
    )  # fmt: skip
    if statuses == []:
        return json_response(RunList(data=[], pagination=Pagination()))
    page = await _service(request).list_runs(params)
    pagination = Pagination(
        next=run_friendly_id(page.next_cursor) if page.next_cursor else None,
        previous=run_friendly_id(page.prev_cursor) if page.prev_cursor else None,
    )
    return json_response(RunList(data=[render_listed(r) for r in page.runs], pagination=pagination))


async def cancel_run(request: Request) -> Response:
    run = await _run(request)
    await _service(request).cancel(run.id)  # an ended run is left as it is (200, as the real server)
    return json_response(IdResponse(id=run_friendly_id(run.id)))


async def replay_run(request: Request) -> Response:
    run = await _run(request)
    body: ReplayBody = decode(await read_body(request), ReplayBody)
    overrides: dict[str, Any] = {}
    if body.payload is not msgspec.UNSET:
        overrides["payload"] = decode_payload(body.payload, body.payloadType)
    if body.tags is not None:
        overrides["tags"] = parse_tags(body.tags)
    if body.metadata is not None:
        overrides["metadata"] = body.metadata
    result = await _service(request).replay(run.id, **overrides)
    return json_response(IdResponse(id=run_friendly_id(result.run.id)))


async def reschedule_run(request: Request) -> Response:
    run = await _run(request)
    body: RescheduleBody = decode(await read_body(request), RescheduleBody)
    due = parse_delay(body.delay)
    assert due is not None
    if run.status is not RunStatus.DELAYED:
        raise bad(f"Cannot reschedule a run that is not delayed (it is {run.status.value.upper()})")
    updated = await _service(request).reschedule(run.id, due)
    return json_response(render_retrieved(updated))


async def add_tags(request: Request) -> Response:
    run = await _run(request)
    body: TagsBody = decode(await read_body(request), TagsBody)
    _, added = await _service(request).add_tags(run.id, parse_tags(body.tags), MAX_TAGS)
    return json_response(MessageResponse(message=f"Successfully set {added} new tags."))


async def update_metadata(request: Request) -> Response:
    run = await _run(request)
    body: MetadataBody = decode(await read_body(request), MetadataBody)
    updated = await _service(request).update_run_info(run.id, metadata=body.metadata)
    return json_response(MetadataResponse(metadata=updated.metadata or {}))


async def get_metadata(request: Request) -> Response:
    run = await _run(request)
    return json_response(MetadataResponse(metadata=run.metadata or {}))


async def override_queue_limit(request: Request) -> Response:
    service = _service(request)
    raw_name = unquote(unquote(str(request.path_params["queue"])))
    body: QueueOverrideBody = decode(await read_body(request), QueueOverrideBody)
    if not 0 <= body.concurrencyLimit <= 1000:
        raise bad("concurrencyLimit must be between 0 and 1000")
    kind = "task" if body.type == "task" else "custom"
    name = f"task/{raw_name}" if kind == "task" else raw_name
    queue = await service.set_queue_limit(name, body.concurrencyLimit)
    running = await service.count_runs(ListRunsParams(queues=[name], statuses=[RunStatus.EXECUTING]))
    queued = await service.count_runs(ListRunsParams(queues=[name], statuses=[RunStatus.QUEUED]))
    item = QueueItem(id=f"queue_{name}", name=raw_name, type=kind, running=running, queued=queued, paused=queue.paused,
                     concurrencyLimit=queue.concurrency_limit)  # fmt: skip
    return json_response(item)


async def create_packet_upload(request: Request) -> Response:
    """Step 1 of an offloaded payload: a presigned URL to PUT it to, and the path to trigger with."""
    token, path = await _service(request).reserve_packet(str(request.path_params["filename"]))
    upload = f"{str(request.base_url).rstrip('/')}{PACKET_UPLOADS}{token}"
    return json_response(PacketUrl(presignedUrl=upload, storagePath=path))


async def upload_packet(request: Request) -> Response:
    """Step 2: the SDK PUTs the payload to the presigned URL (no API key: the single-use token is the key)."""
    data = await read_body(request)
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if not await _service(request).upload_packet(str(request.path_params["token"]), data, content_type):
        raise ApiError(404, "the upload URL is not valid, was used already or has expired")
    return json_response({})


ENDPOINTS = [
    Endpoint("POST", "/api/v1/tasks/{taskIdentifier}/trigger", trigger_task, "Trigger a task", "trigger.dev", hot=True,
             body=TriggerBody, response=TriggerResponse),
    Endpoint("POST", "/api/v2/tasks/batch", batch_trigger, "Batch trigger (one request)", "trigger.dev",
             body=BatchBody, response=BatchV3Response),
    Endpoint("POST", "/api/v3/batches", create_batch, "Create a batch (phase 1)", "trigger.dev",
             body=CreateBatchBody, response=CreateBatchResponse),
    Endpoint("POST", "/api/v3/batches/{batchId}/items", stream_batch_items, "Stream batch items as NDJSON (phase 2)",
             "trigger.dev", response=StreamItemsResponse),
    Endpoint("GET", "/api/v2/batches/{batchId}", retrieve_batch, "Retrieve a batch", "trigger.dev",
             response=BatchResponse),
    Endpoint("GET", "/api/v3/runs/{runId}", retrieve_run, "Retrieve a run", "trigger.dev", response=RetrievedRun),
    Endpoint("GET", "/api/v1/runs", list_runs, "List runs", "trigger.dev", response=RunList,
             query={"page[size]": "1..100", "page[after]": "", "page[before]": "", "filter[status]": "",
                    "filter[taskIdentifier]": "", "filter[tag]": "", "filter[queue]": "", "filter[batch]": "",
                    "filter[createdAt][from]": "epoch ms", "filter[createdAt][to]": "epoch ms",
                    "filter[createdAt][period]": "e.g. 1d"},
             schemas={"page[size]": int_schema(1, 100), "filter[status]": csv_schema(sorted(FROM_TRIGGER_STATUS)),
                      "filter[createdAt][from]": EPOCH_MS_SCHEMA, "filter[createdAt][to]": EPOCH_MS_SCHEMA,
                      "filter[createdAt][period]": {"type": "string", "pattern": "^[0-9]{1,3}(s|m|h|d)$"}}),
    Endpoint("POST", "/api/v2/runs/{runId}/cancel", cancel_run, "Cancel a run", "trigger.dev", response=IdResponse),
    Endpoint("POST", "/api/v1/runs/{runId}/replay", replay_run, "Replay a run", "trigger.dev", body=ReplayBody,
             response=IdResponse),
    Endpoint("POST", "/api/v1/runs/{runId}/reschedule", reschedule_run, "Reschedule a delayed run", "trigger.dev",
             body=RescheduleBody, response=RetrievedRun),
    Endpoint("POST", "/api/v1/runs/{runId}/tags", add_tags, "Add tags to a run", "trigger.dev", body=TagsBody,
             response=MessageResponse),
    Endpoint("PUT", "/api/v1/runs/{runId}/metadata", update_metadata, "Replace a run's metadata", "trigger.dev",
             body=MetadataBody, response=MetadataResponse),
    Endpoint("GET", "/api/v1/runs/{runId}/metadata", get_metadata, "A run's metadata", "trigger.dev",
             response=MetadataResponse),
    Endpoint("PUT", "/api/v2/packets/{filename:path}", create_packet_upload, "Presign a large payload upload",
             "trigger.dev", response=PacketUrl,
             schemas={"filename": PACKET_PATH_SCHEMA}),
    Endpoint("PUT", "/api/v1/packets/upload/{token}", upload_packet, "Upload a large payload (presigned)",
             "trigger.dev", auth=False),
    Endpoint("POST", "/api/v1/queues/{queue}/concurrency/override", override_queue_limit,
             "Set a queue's concurrency limit", "trigger.dev", body=QueueOverrideBody, response=QueueItem),
]  # fmt: skip

DIALECT = Dialect(
    name="trigger.dev",
    prefixes=("/api/v1/", "/api/v2/", "/api/v3/"),
    endpoints=[*ENDPOINTS, *trigger_dev_schedules.ENDPOINTS],
    render_error=render_error,
    error_schema=TriggerDevError,
    error_media_type="application/json",
    statuses=TO_TRIGGER_STATUS,
    open_paths=frozenset({"/api/v1/timezones"}),  # as Trigger.dev
    open_prefixes=(PACKET_UPLOADS,),
    token_grants=token_grants,
)
