"""Trigger.dev v3 wire format out: runs as the SDK's zod schemas require, batches, public-access JWTs.

Optional fields are left out, never null; dates are ISO 8601 with a `Z`; statuses are the closed UPPERCASE
enum of the SDK.
"""

from __future__ import annotations

from typing import Any

import msgspec

from runyard.api.trigger_dev_wire import TO_TRIGGER_STATUS, batch_friendly_id, run_friendly_id
from runyard.ids import us_to_iso
from runyard.models import FINAL_STATUSES, Run, RunStatus
from runyard.records import BatchRecord, BatchStatus

ENV = {"id": "runyard", "name": "runyard"}
BATCH_STATUSES = {
    BatchStatus.PENDING: "PENDING", BatchStatus.PROCESSING: "PROCESSING", BatchStatus.COMPLETED: "COMPLETED",
    BatchStatus.PARTIAL_FAILED: "PARTIAL_FAILED",
}  # fmt: skip


class SerializedError(msgspec.Struct, kw_only=True, omit_defaults=True):
    message: str
    name: str | None = None
    stackTrace: str | None = None


class CommonRun(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    status: str
    taskIdentifier: str
    idempotencyKey: str | None = None
    isQueued: bool
    isExecuting: bool
    isWaiting: bool
    isCompleted: bool
    isSuccess: bool
    isFailed: bool
    isCancelled: bool
    isTest: bool
    createdAt: str
    updatedAt: str
    startedAt: str | None = None
    finishedAt: str | None = None
    delayedUntil: str | None = None
    ttl: str | None = None
    expiredAt: str | None = None
    tags: list[str]
    costInCents: float
    baseCostInCents: float
    durationMs: float
    metadata: dict[str, Any] | None = None


class RetrievedRun(CommonRun, kw_only=True, omit_defaults=True):
    depth: int
    triggerFunction: str
    batchId: str | None = None
    payload: msgspec.Raw | None = None
    output: msgspec.Raw | None = None
    error: SerializedError | None = None
    relatedRuns: dict[str, Any]
    attemptCount: int


class ListedRun(CommonRun, kw_only=True, omit_defaults=True):
    env: dict[str, str]


class Pagination(msgspec.Struct, kw_only=True, omit_defaults=True):
    next: str | None = None
    previous: str | None = None


class RunList(msgspec.Struct, kw_only=True):
    data: list[ListedRun]
    pagination: Pagination


class TriggerResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    isCached: bool | None = None


class BatchRunRef(msgspec.Struct, kw_only=True):
    id: str
    taskIdentifier: str
    isCached: bool


class BatchV3Response(msgspec.Struct, kw_only=True):
    id: str
    runCount: int


class CreateBatchResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    runCount: int
    isCached: bool
    idempotencyKey: str | None = None


class StreamItemsResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    itemsAccepted: int
    itemsDeduplicated: int
    sealed: bool
    cancelled: int = 0
    enqueuedCount: int | None = None
    expectedCount: int | None = None


class BatchItemFailure(msgspec.Struct, kw_only=True):
    index: int
    taskIdentifier: str
    error: str


class BatchProcessing(msgspec.Struct, kw_only=True, omit_defaults=True):
    completedAt: str | None = None
    errors: list[BatchItemFailure]


class BatchResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    status: str
    idempotencyKey: str | None = None
    createdAt: str
    updatedAt: str
    runCount: int
    runs: list[str]
    processing: BatchProcessing


class IdResponse(msgspec.Struct, kw_only=True):
    id: str


class MessageResponse(msgspec.Struct, kw_only=True):
    message: str


class MetadataResponse(msgspec.Struct, kw_only=True):
    metadata: dict[str, Any]


class PacketUrl(msgspec.Struct, kw_only=True):
    presignedUrl: str
    storagePath: str


class QueueItem(msgspec.Struct, kw_only=True):
    id: str
    name: str
    type: str
    running: int
    queued: int
    paused: bool
    concurrencyLimit: int | None
    version: str = "V1"


def _iso(us: int | None) -> str | None:
    return us_to_iso(us) if us else None


def _ttl(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds:g}s"


def _common(run: Run) -> dict[str, Any]:
    status = TO_TRIGGER_STATUS[run.status]
    final = run.status in FINAL_STATUSES
    duration = (run.ended_at - run.started_at) / 1000 if run.ended_at and run.started_at else 0.0
    return {
        "id": run_friendly_id(run.id),
        "status": status,
        "taskIdentifier": run.task,
        "idempotencyKey": run.idempotency_key,
        "isQueued": run.status in (RunStatus.QUEUED, RunStatus.DELAYED),
        "isExecuting": run.status is RunStatus.EXECUTING,
        "isWaiting": False,
        "isCompleted": final,
        "isSuccess": run.status is RunStatus.COMPLETED,
        "isFailed": final and run.status is not RunStatus.COMPLETED,
        "isCancelled": run.status is RunStatus.CANCELED,
        "isTest": False,
        "createdAt": us_to_iso(run.created_at),
        "updatedAt": us_to_iso(run.updated_at),
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.ended_at) if final else None,
        "delayedUntil": _iso(run.delayed_until),
        "ttl": _ttl(run.ttl_s),
        "expiredAt": _iso(run.ended_at) if run.status is RunStatus.EXPIRED else None,
        "tags": run.tags,
        "costInCents": 0.0,
        "baseCostInCents": 0.0,
        "durationMs": duration,
        "metadata": run.metadata,
    }


def render_retrieved(run: Run) -> RetrievedRun:
    error = None
    if run.error and run.status is not RunStatus.COMPLETED:
        error = SerializedError(
            message=str(run.error.get("message", "")),
            name=run.error.get("name"),
            stackTrace=run.error.get("stackTrace"),
        )
    return RetrievedRun(
        **_common(run),
        depth=0,
        triggerFunction="batchTrigger" if run.batch_id else "trigger",
        batchId=batch_friendly_id(run.batch_id) if run.batch_id else None,
        payload=msgspec.Raw(run.payload),
        output=msgspec.Raw(run.output) if run.output is not None else None,
        error=error,
        relatedRuns={},
        attemptCount=run.attempt_count,
    )


def render_listed(run: Run) -> ListedRun:
    return ListedRun(**_common(run), env=ENV)


def render_batch(batch: BatchRecord) -> BatchResponse:
    return BatchResponse(
        id=batch_friendly_id(batch.id),
        status=BATCH_STATUSES[batch.status],
        idempotencyKey=batch.idempotency_key,
        createdAt=us_to_iso(batch.created_at),
        updatedAt=us_to_iso(batch.updated_at),
        runCount=batch.run_count,
        runs=[run_friendly_id(r) for r in batch.run_ids],
        processing=BatchProcessing(
            completedAt=us_to_iso(batch.updated_at) if batch.sealed else None,
            errors=[BatchItemFailure(index=e.index, taskIdentifier=e.task, error=e.error) for e in batch.errors],
        ),
    )
