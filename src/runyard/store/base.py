"""The store interface: every durable operation the engine performs, by name.

A store is one class with a small set of named operations taking parameter objects (the shape of
River's driver interface). The service and the worker speak only these; SQL lives in the backend's
`.sql` files. Every backend passes `tests/store/test_contract.py`.
"""

from __future__ import annotations

import abc
from typing import Any

import msgspec

from runyard.ids import now_us
from runyard.models import (
    ApiKey,
    Attempt,
    AttemptStatus,
    Claimed,
    EndReason,
    LogLine,
    OverlapPolicy,
    Queue,
    Run,
    RunStatus,
    Schedule,
    TriggeredBy,
)
from runyard.records import BatchItemError, BatchRecord, ListRunsParams, RunPage
from runyard.store.evals_base import EvalStore

__all__ = ["BatchItemError", "BatchRecord", "ListRunsParams", "RunPage"]


class Overlap(msgspec.Struct, frozen=True, kw_only=True):
    """A task's overlap rule, checked in the transaction that creates the run."""

    policy: OverlapPolicy = OverlapPolicy.QUEUE
    limit: int | None = None  # executing runs of the task that make it busy (None: never busy)
    max_queued: int = 100


class EnqueueParams(msgspec.Struct, kw_only=True):
    """One run to create. `id` is chosen by the caller (a ULID) so retries of a request stay stable."""

    id: str
    task: str
    queue: str
    payload: bytes = b"null"
    payload_type: str = "application/json"
    context: bytes | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] | None = None
    concurrency_key: str = ""
    idempotency_key: str | None = None
    idempotency_ttl_s: float | None = None
    request_key: str | None = None  # a per-request key (retried HTTP calls): same key, same run
    priority: int = 0
    delay_until: int | None = None  # microseconds; None = available now
    ttl_s: float | None = None
    max_attempts: int = 1
    max_duration_s: float | None = None
    triggered_by: TriggeredBy = TriggeredBy.API
    replay_of: str | None = None
    batch_id: str | None = None
    batch_index: int | None = None
    # A queue limit sent with the trigger: stored on the queue (None leaves the stored limit).
    queue_limit: int | None = None
    set_queue_limit: bool = False
    schedule_id: str | None = None  # the schedule and tick (runyard.cron key) this run was made for
    schedule_key: int | None = None
    overlap: Overlap | None = None  # None: no overlap rule (the run just waits for a slot)
    end_reason: EndReason | None = None  # record the run as ended at once (missed, dst_skipped)
    replica_index: int = 0  # a service replica: one live run per (task, replica) at most
    retry_as_new_run: bool = False  # a failed attempt ends the run and a new run retries it (RunWisp's model)


class EnqueueResult(msgspec.Struct, kw_only=True):
    run: Run
    cached: bool = False  # the idempotency key, request key or batch index matched an existing run
    stopped: list[str] = msgspec.field(default_factory=list)  # runs ended by on_overlap = "kill"


class ScheduleParams(msgspec.Struct, kw_only=True):
    """A schedule to create, or to update when one with the same deduplication key exists."""

    id: str
    task: str
    cron: str
    timezone: str = "UTC"
    active: bool = True
    declarative: bool = False
    external_id: str | None = None
    deduplication_key: str | None = None
    next_key: int | None = None  # the cursor to use when the schedule is new or its timing changed
    next_run_at: int | None = None
    payload: bytes | None = None
    tags: list[str] = msgspec.field(default_factory=list)


class ListSchedulesParams(msgspec.Struct, kw_only=True):
    limit: int = 50
    offset: int = 0
    task: str | None = None


class FireParams(msgspec.Struct, kw_only=True):
    """Fire a schedule's due ticks: move its cursor from `expected_key` to `next_key` and create one run per
    tick, atomically. If another process moved the cursor first, nothing happens."""

    schedule_id: str
    expected_key: int
    next_key: int
    next_run_at: int
    last_run_at: int | None = None
    runs: list[EnqueueParams] = msgspec.field(default_factory=list)


class FireResult(msgspec.Struct, kw_only=True):
    fired: bool  # False: another process fired these ticks
    results: list[EnqueueResult] = msgspec.field(default_factory=list)


class ClaimParams(msgspec.Struct, kw_only=True):
    worker_id: str
    limit: int
    lease_s: float
    tasks: list[str] | None = None  # only runs of these tasks (None: any)


class CompleteParams(msgspec.Struct, kw_only=True):
    attempt_id: str
    output: bytes | None = None
    output_type: str = "application/json"
    exit_code: int | None = 0


class FailParams(msgspec.Struct, kw_only=True):
    """An attempt ended without success. With `retry_at`, the run goes back to the queue."""

    attempt_id: str
    error: dict[str, Any]
    attempt_status: AttemptStatus = AttemptStatus.FAILED
    run_status: RunStatus = RunStatus.FAILED  # the run's status if it does not retry
    end_reason: EndReason = EndReason.FAILED
    exit_code: int | None = None
    retry_at: int | None = None
    # The id of the new run that retries this one when its task retries as new runs (`Run.retry_of`); the
    # store makes one up if it is not given. Ignored for runs that retry as further attempts.
    retry_run_id: str | None = None


class LogSize(msgspec.Struct, kw_only=True):
    lines: int = 0  # the number of the last line
    bytes: int = 0  # UTF-8 bytes of the stored text, all attempts
    truncated: bool = False  # lines were dropped at the per-run cap


class MaintenanceResult(msgspec.Struct, kw_only=True):
    promoted: int = 0  # delayed runs now queued
    expired: list[str] = msgspec.field(default_factory=list)  # ttl passed before a start
    crashed: list[str] = msgspec.field(default_factory=list)  # lease lost, no attempts left
    requeued: list[str] = msgspec.field(default_factory=list)  # lease lost, retried


class StoreError(Exception):
    pass


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class Store(EvalStore, abc.ABC):
    """Named, durable operations. Every write is committed before its coroutine returns."""

    # -- lifecycle -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and migrate to the current schema."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    # -- runs: writes ------------------------------------------------------------------------
    @abc.abstractmethod
    async def enqueue(self, params: EnqueueParams) -> EnqueueResult:
        """Create a run, or return the run its idempotency/request key already names."""

    @abc.abstractmethod
    async def enqueue_many(self, params: list[EnqueueParams]) -> list[EnqueueResult]:
        """Create several runs in one transaction: all are committed, or none (an error raises)."""

    @abc.abstractmethod
    async def claim_batch(self, params: ClaimParams) -> list[Claimed]:
        """Move up to `limit` due runs to executing, honouring queue and concurrency-key limits.

        Order: priority (high first), then available_at, then id. Each claimed run gets a new
        attempt leased to the worker until now + lease_s.
        """

    @abc.abstractmethod
    async def heartbeat(self, worker_id: str, attempt_ids: list[str], lease_s: float) -> list[str]:
        """Extend the leases of attempts this worker still owns. Returns the ids it no longer owns
        (canceled, reaped or ended elsewhere): the worker must stop them."""

    @abc.abstractmethod
    async def complete_attempt(self, params: CompleteParams) -> Run | None:
        """Mark the attempt and its run completed, only if the attempt still owns the run. Returns the
        completed run, or None if the attempt no longer owned it (nothing was written)."""

    @abc.abstractmethod
    async def fail_attempt(self, params: FailParams) -> Run | None:
        """End the attempt; retry the run (`retry_at`) or end it. Only if the attempt owns the run.
        Returns the run as it now is, or None if the attempt no longer owned it."""

    @abc.abstractmethod
    async def cancel(self, run_id: str) -> Run:
        """Cancel a run that has not ended (no-op on an ended run). Raises NotFound."""

    @abc.abstractmethod
    async def reschedule(self, run_id: str, delay_until: int) -> Run:
        """Move a delayed run's start. Raises NotFound, or Conflict if the run is not delayed."""

    @abc.abstractmethod
    async def release_attempt(self, attempt_id: str) -> bool:
        """The code of a canceled attempt has stopped: its queue slot is free now (until then a canceled run
        whose attempt has not been released counts against its queue's and key's limits). True if it was held."""

    @abc.abstractmethod
    async def update_run_info(
        self, run_id: str, *, tags: list[str] | None = None, metadata: dict[str, Any] | None = None
    ) -> Run:
        """Replace tags and/or metadata of a run. Raises NotFound."""

    @abc.abstractmethod
    async def add_run_tags(self, run_id: str, tags: list[str], max_tags: int) -> tuple[Run, int]:
        """In one transaction: add the tags the run lacks (in order, once each); returns the run and how many
        were added. Raises NotFound, and Conflict (nothing changed) when the run would hold more than
        `max_tags`."""

    # -- maintenance duties: each idempotent and safe to run from several processes at once ------
    @abc.abstractmethod
    async def promote_delayed(self, now: int) -> int:
        """Queue the delayed runs due at `now`; returns how many."""

    @abc.abstractmethod
    async def expire_runs(self, now: int) -> list[str]:
        """End the runs not started whose ttl passed by `now` (expired / missed)."""

    @abc.abstractmethod
    async def rescue_lost_leases(self, now: int) -> tuple[list[str], list[str]]:
        """Crash the attempts whose lease ended before `now`: (runs requeued for a retry, runs crashed). A run whose
        task retries as new runs is crashed, and the new run that retries it is among the requeued. Also frees
        the slots of canceled attempts whose lease ended (their workers are gone)."""

    async def maintain(self, lease_grace_s: float = 0.0) -> MaintenanceResult:
        """Every run duty at once: promote delayed runs, expire runs past their ttl, rescue lost leases."""
        now = now_us()
        promoted = await self.promote_delayed(now)
        expired = await self.expire_runs(now)
        requeued, crashed = await self.rescue_lost_leases(now - int(lease_grace_s * 1_000_000))
        return MaintenanceResult(promoted=promoted, expired=expired, requeued=requeued, crashed=crashed)

    # -- runs: reads ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def get_run(self, run_id: str) -> Run | None: ...

    @abc.abstractmethod
    async def list_runs(self, params: ListRunsParams) -> RunPage: ...

    @abc.abstractmethod
    async def count_runs(self, params: ListRunsParams) -> int:
        """How many runs match the filters of `params` (cursors and limit are ignored)."""

    @abc.abstractmethod
    async def list_attempts(self, run_id: str) -> list[Attempt]: ...

    @abc.abstractmethod
    async def next_due_at(self) -> int | None:
        """The earliest time a delayed run becomes due, a pending run's ttl passes, a lease expires, or a
        queued run waiting for its retry becomes available."""

    @abc.abstractmethod
    async def count_by_status(self) -> dict[RunStatus, int]: ...

    @abc.abstractmethod
    async def stop_replicas(self, task: str | None, end_reason: EndReason) -> list[str]:
        """End the live runs of service replicas (of `task`, or of every service) as canceled with
        `end_reason`; returns their ids."""

    # -- schedules ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def upsert_schedule(self, params: ScheduleParams) -> tuple[Schedule, bool]:
        """Create a schedule, or update the one with the same deduplication key. (schedule, created)."""

    @abc.abstractmethod
    async def update_schedule(self, schedule_id: str, params: ScheduleParams) -> Schedule:
        """Change a schedule's task, cron, zone, external id or active flag. Raises NotFound."""

    @abc.abstractmethod
    async def get_schedule(self, schedule_id: str) -> Schedule | None: ...

    @abc.abstractmethod
    async def get_schedule_by_key(self, deduplication_key: str) -> Schedule | None: ...

    @abc.abstractmethod
    async def list_schedules(self, params: ListSchedulesParams) -> tuple[list[Schedule], int]:
        """A page of schedules (oldest first) and the total count."""

    @abc.abstractmethod
    async def delete_schedule(self, schedule_id: str) -> bool: ...

    @abc.abstractmethod
    async def sync_declarative_schedules(self, schedules: list[ScheduleParams]) -> None:
        """Make the configuration's schedules exactly these (matched by deduplication key), in one transaction."""

    @abc.abstractmethod
    async def due_schedules(self, now: int, limit: int) -> list[Schedule]:
        """Active schedules whose next tick is due at `now`, most overdue first."""

    @abc.abstractmethod
    async def fire_schedule(self, params: FireParams) -> FireResult: ...

    # -- queues -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def upsert_queue(self, name: str, concurrency_limit: int | None) -> Queue: ...

    @abc.abstractmethod
    async def get_queue(self, name: str) -> Queue | None: ...

    @abc.abstractmethod
    async def list_queues(self) -> list[Queue]: ...

    # -- logs -------------------------------------------------------------------------------
    @abc.abstractmethod
    async def append_logs(
        self, run_id: str, attempt: int, lines: list[tuple[str, str]], cap_bytes: int | None = None
    ) -> LogSize:
        """Append (stream, text) lines to a run's log in order. With `cap_bytes`, the log of the run (all its
        attempts) keeps within it: the lines past the cap are dropped and, once, a system line says so."""

    @abc.abstractmethod
    async def log_size(self, run_id: str) -> LogSize:
        """How long a run's log is and whether lines were dropped at its cap."""

    @abc.abstractmethod
    async def read_logs(self, run_id: str, after_seq: int = 0, limit: int = 1000) -> list[LogLine]: ...

    @abc.abstractmethod
    async def last_log_seq(self, run_id: str) -> int:
        """The number of the run's last log line (0: none yet)."""

    # -- batches ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def create_batch(self, batch: BatchRecord) -> tuple[BatchRecord, bool]:
        """Create a batch, or return the one with the same idempotency key (second value True)."""

    @abc.abstractmethod
    async def get_batch(self, batch_id: str) -> BatchRecord | None: ...

    @abc.abstractmethod
    async def record_batch_items(
        self, batch_id: str, errors: list[BatchItemError], *, seal: bool = False
    ) -> BatchRecord:
        """In one transaction: add the item errors not yet recorded (by index), then seal the batch once every
        item is a run or an error (or at once with `seal`). Raises NotFound; Conflict when `seal` finds it
        sealed already."""

    # -- packets (large payloads uploaded before their trigger) -----------------------------------------
    @abc.abstractmethod
    async def create_packet(self, path: str, upload_token: str, expires_at: int) -> None:
        """Reserve `path` for one upload with `upload_token` until `expires_at` (a new reservation replaces it)."""

    @abc.abstractmethod
    async def fill_packet(self, upload_token: str, data: bytes, content_type: str) -> bool:
        """Store the upload for a reserved, unexpired, still-empty packet. False if the token is not valid."""

    @abc.abstractmethod
    async def get_packet(self, path: str) -> tuple[bytes, str] | None:
        """(data, content type) of an uploaded packet."""

    # -- api keys and server secrets ---------------------------------------------------------------
    @abc.abstractmethod
    async def server_secret(self, name: str, candidate: bytes) -> bytes:
        """The secret stored under `name`; the first caller's `candidate` becomes it (one transaction)."""

    @abc.abstractmethod
    async def create_api_key(self, key: ApiKey, key_hash: str) -> bool:
        """Store a key; False (and nothing stored) when a key with this hash exists, revoked or not."""

    @abc.abstractmethod
    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        """The active (not revoked) key with this hash."""

    @abc.abstractmethod
    async def list_api_keys(self) -> list[ApiKey]: ...

    @abc.abstractmethod
    async def revoke_api_key(self, key_id: str) -> bool: ...
