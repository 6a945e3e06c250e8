"""What the engine hands its callers besides runs: run queries and pages, and batches.

The store returns these and the service passes them on, so a dialect reads them without importing the
store. The words are the engine's (lowercase statuses, snake_case fields); each dialect renders its own.
"""

from __future__ import annotations

import enum

import msgspec

from runyard.models import Run, RunStatus, TriggeredBy


class ListRunsParams(msgspec.Struct, kw_only=True):
    limit: int = 50
    after: str | None = None  # cursor: run id; newest first, so "after" means older
    before: str | None = None  # cursor: run id; newer than this
    statuses: list[RunStatus] | None = None
    tasks: list[str] | None = None
    tags: list[str] | None = None  # any of these tags
    queues: list[str] | None = None
    batch_id: str | None = None
    concurrency_key: str | None = None  # "" is the partition of runs without a key
    triggered_by: list[TriggeredBy] | None = None
    created_from: int | None = None
    created_to: int | None = None
    exit_code_min: int | None = None
    exit_code_max: int | None = None
    retries_only: bool = False  # runs that took more than one attempt
    failed: bool | None = None  # True: ended as a failure (failed, timed out, crashed); False: everything else
    search: str | None = None  # a substring of the task name, or a run id
    sort: str | None = None  # one of SORT_FIELDS; with it, pages go by `offset` instead of cursors
    descending: bool = True
    offset: int = 0


SORT_FIELDS = ("task", "status", "started_at", "exit_code", "duration", "created_at")


class RunPage(msgspec.Struct, kw_only=True):
    runs: list[Run]
    next_cursor: str | None = None  # pass as `after` for the next (older) page
    prev_cursor: str | None = None  # pass as `before` for the previous (newer) page


class BatchStatus(enum.StrEnum):
    PENDING = "pending"  # items are still coming, none has failed
    PROCESSING = "processing"  # items are still coming, some failed validation
    COMPLETED = "completed"  # sealed: every item became a run
    PARTIAL_FAILED = "partial_failed"  # sealed: some items failed validation


class BatchItemError(msgspec.Struct, kw_only=True):
    """An item of a batch that did not become a run, and why."""

    index: int
    task: str
    error: str


class BatchRecord(msgspec.Struct, kw_only=True):
    id: str
    run_count: int
    status: BatchStatus
    created_at: int
    updated_at: int
    idempotency_key: str | None = None
    task_identifiers: list[str] = msgspec.field(default_factory=list)
    errors: list[BatchItemError] = msgspec.field(default_factory=list)
    run_ids: list[str] = msgspec.field(default_factory=list)
    sealed: bool = False


def batch_status(errors: list[BatchItemError], sealed: bool) -> BatchStatus:
    if sealed:
        return BatchStatus.PARTIAL_FAILED if errors else BatchStatus.COMPLETED
    return BatchStatus.PROCESSING if errors else BatchStatus.PENDING
