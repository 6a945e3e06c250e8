"""The engine's domain: tasks, runs, attempts, queues, and the one run state machine.

Every dialect renders these types in its own wire format; none of them keeps state of its own.
Times are integer microseconds since the Unix epoch, UTC (`ids.now_us()`).
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from runyard.params import Param


class RunStatus(enum.StrEnum):
    DELAYED = "delayed"
    QUEUED = "queued"
    EXECUTING = "executing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    CRASHED = "crashed"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"
    SYSTEM_FAILURE = "system_failure"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def releases_idempotency_key(self) -> bool:
        """A run that ended without success frees its idempotency key for a new run."""
        return self in FINAL_STATUSES and self is not RunStatus.COMPLETED


FINAL_STATUSES = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELED,
        RunStatus.CRASHED,
        RunStatus.TIMED_OUT,
        RunStatus.EXPIRED,
        RunStatus.SYSTEM_FAILURE,
    }
)
PENDING_STATUSES = frozenset({RunStatus.DELAYED, RunStatus.QUEUED})
# the ends that count as failures (ListRunsParams.failed; the store's run filters spell the same set)
FAILURE_STATUSES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CRASHED, RunStatus.SYSTEM_FAILURE})

# The state machine: which status may follow which. `executing -> queued` is a retry.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.DELAYED: frozenset({RunStatus.QUEUED, RunStatus.CANCELED, RunStatus.EXPIRED}),
    RunStatus.QUEUED: frozenset({RunStatus.EXECUTING, RunStatus.CANCELED, RunStatus.EXPIRED, RunStatus.DELAYED}),
    RunStatus.EXECUTING: frozenset(
        {
            RunStatus.QUEUED,
            RunStatus.COMPLETED,
            RunStatus.FAILED,
            RunStatus.CANCELED,
            RunStatus.CRASHED,
            RunStatus.TIMED_OUT,
            RunStatus.SYSTEM_FAILURE,
        }
    ),
    **{s: frozenset() for s in FINAL_STATUSES},
}


def can_transition(old: RunStatus, new: RunStatus) -> bool:
    return new in TRANSITIONS[old]


class EndReason(enum.StrEnum):
    """Why a run ended, in RunWisp's vocabulary (the engine's finer-grained outcome)."""

    SUCCESS = "success"
    FAILED = "failed"
    STOPPED = "stopped"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    MISSED = "missed"
    START_FAILED = "start_failed"
    SYSTEM_FAILURE = "system_failure"
    SKIPPED = "skipped"  # a tick found the task busy under on_overlap = "skip"
    QUEUE_FULL = "queue_full"  # a tick found max_queued runs already waiting
    DST_SKIPPED = "dst_skipped"  # the tick's local time did not exist (the clock sprang forward)
    DAEMON_STOPPED = "daemon_stopped"  # a service replica stopped because the server shut down


class AttemptStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    CRASHED = "crashed"
    TIMED_OUT = "timed_out"


class TriggeredBy(enum.StrEnum):
    API = "api"
    UI = "ui"
    CLI = "cli"
    CRON = "cron"
    SERVICE = "service"
    STARTUP = "startup"
    REPLAY = "replay"


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Exponential backoff: delay(n) = min(max_delay, min_delay * factor**(n-1)), optionally randomized;
    `linear`: delay(n) = min(max_delay, min_delay * n)."""

    max_attempts: int = 1
    factor: float = 2.0
    linear: bool = False
    min_delay: float = 1.0
    max_delay: float = 60.0
    randomize: bool = True
    # Retry as a new run (RunWisp's model: each retry is a run of its own whose `retry_of` names the failed
    # one) instead of as a further attempt of the same run (Trigger.dev's model, the default).
    new_run: bool = False


class OverlapPolicy(enum.StrEnum):
    """What a new run of a busy task does (RunWisp's `on_overlap`)."""

    QUEUE = "queue"  # wait for a slot, up to max_queued waiting runs (then queue_full)
    SKIP = "skip"  # end at once with end reason `skipped`
    KILL = "kill"  # stop the running run(s), then start


CATCH_UP_ALL = -1  # catch_up = "all": run every tick missed while no server was up


class QueueSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    concurrency_limit: int | None = None  # None: unlimited; 0 holds every run queued


class TaskDef(msgspec.Struct, frozen=True, kw_only=True):
    """A task as configured. `kind` picks the executor; `config` holds that executor's settings."""

    name: str
    kind: str  # "shell" | "python" | "http" | "noop"
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    queue: str | None = None  # default: the task's own queue, named "task/<name>"
    concurrency_limit: int | None = None
    retry: RetryPolicy = RetryPolicy()
    timeout: float | None = None  # seconds; the run becomes timed_out past it
    graceful_stop: float = 5.0  # seconds between SIGTERM and SIGKILL
    description: str = ""
    cron: str | None = None  # a schedule from the configuration (see runyard.cron for the forms)
    timezone: str = "UTC"
    on_overlap: OverlapPolicy = OverlapPolicy.QUEUE
    max_queued: int = 100  # waiting runs a busy task may have before a tick gives queue_full
    catch_up: int = 1  # missed ticks to run after downtime: 1 = latest, 0 = skip, CATCH_UP_ALL = all
    instances: int = 0  # a service: this many replicas kept running (0: an ordinary task)
    restart_min_s: float = 1.0  # a service replica that exits is restarted after min * 2**(n-1), up to max
    restart_max_s: float = 60.0
    run_on_start: bool = False  # a startup task: one run each time a server starts
    manual_trigger: bool = True  # False: only its schedule (or start-up) runs it; API triggers get 403
    params: list[Param] = msgspec.field(default_factory=list)  # declared parameters (runyard.params)

    @property
    def queue_name(self) -> str:
        return self.queue or f"task/{self.name}"


class Run(msgspec.Struct, kw_only=True):
    id: str
    task: str
    status: RunStatus
    queue: str
    payload: bytes = b"null"  # JSON text of the decoded payload
    payload_type: str = "application/json"
    context: bytes | None = None  # JSON text
    output: bytes | None = None  # JSON text
    output_type: str = "application/json"
    error: dict[str, Any] | None = None  # {message, name?, stack?}
    tags: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] | None = None
    concurrency_key: str = ""
    idempotency_key: str | None = None
    idempotency_expires_at: int | None = None
    request_key: str | None = None
    priority: int = 0
    available_at: int = 0
    expires_at: int | None = None
    ttl_s: float | None = None
    max_attempts: int = 1
    max_duration_s: float | None = None
    attempt_count: int = 0
    triggered_by: TriggeredBy = TriggeredBy.API
    replay_of: str | None = None
    batch_id: str | None = None
    created_at: int = 0
    updated_at: int = 0
    started_at: int | None = None
    ended_at: int | None = None
    delayed_until: int | None = None
    exit_code: int | None = None
    end_reason: EndReason | None = None
    current_attempt_id: str | None = None
    schedule_id: str | None = None  # the schedule whose tick made this run
    replica_index: int = 0  # which replica of a service this run is (0 for ordinary tasks)
    retry_of: str | None = None  # the run this run retries (tasks that retry as new runs)
    retry_as_new_run: bool = False

    @property
    def is_final(self) -> bool:
        return self.status.is_final


class Schedule(msgspec.Struct, kw_only=True):
    """A cron schedule of a task. Times are microseconds UTC; `next_key` is the next tick's local wall time
    (see runyard.cron), the cursor that names each tick once."""

    id: str
    task: str
    cron: str
    timezone: str = "UTC"
    active: bool = True
    declarative: bool = False  # from runyard.toml (kept in step with it); else made over the API
    external_id: str | None = None
    deduplication_key: str | None = None
    created_at: int = 0
    updated_at: int = 0
    next_key: int | None = None
    next_run_at: int | None = None
    last_run_at: int | None = None  # the due time of the last tick that made a run
    payload: bytes | None = None  # JSON text each tick's run gets; None: the tick's description
    tags: list[str] = msgspec.field(default_factory=list)  # each tick's run gets these


class Attempt(msgspec.Struct, kw_only=True):
    id: str
    run_id: str
    number: int
    worker_id: str
    status: AttemptStatus
    lease_expires_at: int
    started_at: int
    ended_at: int | None = None
    error: dict[str, Any] | None = None
    exit_code: int | None = None


class Queue(msgspec.Struct, kw_only=True):
    name: str
    concurrency_limit: int | None = None
    paused: bool = False


class LogLine(msgspec.Struct, kw_only=True):
    run_id: str
    seq: int
    attempt: int
    stream: str  # stdout | stderr | system
    ts: int
    text: str


class Claimed(msgspec.Struct, kw_only=True):
    """What a worker gets for one claimed run: the run as it now is and the attempt it owns."""

    run: Run
    attempt: Attempt


class ApiKey(msgspec.Struct, kw_only=True):
    id: str
    name: str
    prefix: str
    created_at: int
    revoked_at: int | None = None
