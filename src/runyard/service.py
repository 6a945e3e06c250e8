"""The engine API every dialect calls: trigger, read, cancel, replay, reschedule, logs.

One store call per operation (one transaction; group commit on SQLite). Dialects translate their wire
format into `TriggerRequest`s and render `Run`s back; the rules live here and in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import secrets
from typing import Any

import msgspec

from runyard import identifiers, params, tokens
from runyard.durations import MAX_DURATION_S
from runyard.errors import BadRequest, ConflictError, Forbidden, NotFoundError, ServiceNotTriggerable
from runyard.evals.service import Evaluations
from runyard.events import EventBus
from runyard.ids import new_ulid, now_us, us_to_rfc3339
from runyard.keys import hash_key
from runyard.models import Attempt, EndReason, LogLine, Queue, Run, RunStatus, TaskDef, TriggeredBy
from runyard.records import BatchItemError, BatchRecord, BatchStatus, ListRunsParams, RunPage
from runyard.schedules import Schedules
from runyard.store.base import Conflict, EnqueueParams, EnqueueResult, LogSize, NotFound, Store
from runyard.tasks import TaskRegistry

DEFAULT_IDEMPOTENCY_TTL_S = 30 * 86400.0
PACKET_UPLOAD_TTL_S = 3600.0
MAX_SPAN_S = MAX_DURATION_S  # ten years: the bound of every duration and delay
MAX_ATTEMPTS = 1000
MAX_PRIORITY = 1_000_000
MANUAL = frozenset(
    {TriggeredBy.API, TriggeredBy.UI, TriggeredBy.CLI, TriggeredBy.REPLAY}
)  # refused by manual_trigger=false


class TriggerRequest(msgspec.Struct, kw_only=True):
    """What any dialect asks of the engine when it triggers a run. None means "the task's default"."""

    task: str
    payload: bytes = b"null"  # JSON text
    payload_type: str = "application/json"
    context: bytes | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] | None = None
    queue: str | None = None
    queue_limit: int | None = None
    set_queue_limit: bool = False
    concurrency_key: str = ""
    idempotency_key: str | None = None
    idempotency_ttl_s: float | None = None
    request_key: str | None = None
    priority: int = 0
    delay_until: int | None = None  # absolute, microseconds
    ttl_s: float | None = None
    max_attempts: int | None = None
    max_duration_s: float | None = None
    triggered_by: TriggeredBy = TriggeredBy.API
    replay_of: str | None = None
    params: dict[str, Any] | None = None  # values for the task's declared params (runyard.params)


def packet_path(path: str) -> str:
    """`a/./b//c.json` and `/a/b/c.json` are `a/b/c.json`; a path that leaves the root or names nothing is a
    BadRequest."""
    identifiers.check("the packet path", path, 1024, allow_empty=False)
    normal = posixpath.normpath("/" + path).lstrip("/")
    if not normal or ".." in path.split("/"):
        raise BadRequest(f"the packet path {path!r} must name a file below the root (no '..')")
    return normal


class Service:
    def __init__(self, store: Store, tasks: TaskRegistry, events: EventBus | None = None) -> None:
        self.store = store
        self.tasks = tasks
        self.events = events or EventBus()
        self.schedules = Schedules(store, tasks, self.events, self)
        self.evaluations = Evaluations(store, self)
        self._token_key: bytes | None = None

    # -- triggering --------------------------------------------------------------------------------
    def task(self, name: str) -> TaskDef:
        task = self.tasks.get(name)
        if task is None:
            identifiers.check("the task name", name, identifiers.MAX_TASK_NAME)
            for other in (name.replace("-", "_"), name.replace("_", "-")):
                if other != name and self.tasks.get(other) is not None:
                    raise NotFoundError(f"task {name!r} not found; there is a task {other!r}")
            raise NotFoundError(f"task {name!r} not found")
        return task

    def enqueue_params(
        self, req: TriggerRequest, *, batch_id: str | None = None, index: int | None = None
    ) -> EnqueueParams:
        task = self.task(req.task)
        if task.instances > 0 and req.triggered_by is not TriggeredBy.SERVICE:
            raise ServiceNotTriggerable()
        if not task.manual_trigger and req.triggered_by in MANUAL:
            raise Forbidden(f"manual_trigger is false: task {task.name!r} runs only on its schedule")
        if req.priority < -MAX_PRIORITY or req.priority > MAX_PRIORITY:
            raise BadRequest(f"priority must be between {-MAX_PRIORITY} and {MAX_PRIORITY}")
        if req.max_attempts is not None and not 1 <= req.max_attempts <= MAX_ATTEMPTS:
            raise BadRequest(f"maxAttempts must be between 1 and {MAX_ATTEMPTS}")
        for name, seconds in (("ttl", req.ttl_s), ("maxDuration", req.max_duration_s),
                              ("idempotencyKeyTTL", req.idempotency_ttl_s)):  # fmt: skip
            if seconds is not None and not 0 <= seconds <= MAX_SPAN_S:
                raise BadRequest(f"{name} must be between 0 and {MAX_SPAN_S // 86400:.0f} days")
        if req.delay_until is not None and req.delay_until > now_us() + int(MAX_SPAN_S * 1_000_000):
            raise BadRequest(f"delay must be at most {MAX_SPAN_S // 86400:.0f} days ahead")
        identifiers.check("queue", req.queue, identifiers.MAX_QUEUE_NAME)
        identifiers.check("concurrencyKey", req.concurrency_key, identifiers.MAX_CONCURRENCY_KEY)
        identifiers.check("idempotencyKey", req.idempotency_key, identifiers.MAX_IDEMPOTENCY_KEY)
        identifiers.check("Idempotency-Key header", req.request_key, identifiers.MAX_IDEMPOTENCY_KEY)
        identifiers.check_tags(req.tags)
        payload = req.payload
        if req.params is not None or (task.params and req.payload.strip() in (b"", b"null")):
            try:
                values = params.resolve(task.params, req.params)
            except params.ParamError as exc:
                raise BadRequest(f"invalid parameters: {exc}") from None
            if task.params:
                payload = msgspec.json.encode({"params": values})
        queue = req.queue or task.queue_name
        set_limit = req.set_queue_limit
        limit = req.queue_limit
        if req.queue is None and not set_limit and task.concurrency_limit is not None:
            limit, set_limit = task.concurrency_limit, False  # ensured at registration
        return EnqueueParams(
            id=new_ulid(),
            task=task.name,
            queue=queue,
            payload=payload,
            payload_type=req.payload_type,
            context=req.context,
            tags=req.tags,
            metadata=req.metadata,
            concurrency_key=req.concurrency_key,
            idempotency_key=req.idempotency_key or None,  # an empty key is no key, in every dialect
            idempotency_ttl_s=(
                req.idempotency_ttl_s if req.idempotency_ttl_s is not None else DEFAULT_IDEMPOTENCY_TTL_S
            ),
            request_key=req.request_key or None,
            priority=req.priority,
            delay_until=req.delay_until,
            ttl_s=req.ttl_s,
            max_attempts=req.max_attempts or task.retry.max_attempts,
            retry_as_new_run=task.retry.new_run,
            max_duration_s=req.max_duration_s if req.max_duration_s is not None else task.timeout,
            triggered_by=req.triggered_by,
            replay_of=req.replay_of,
            batch_id=batch_id,
            batch_index=index,
            queue_limit=limit,
            set_queue_limit=set_limit,
        )

    def _announce(self, results: list[EnqueueResult]) -> None:
        fresh = [r.run for r in results if not r.cached]
        if not fresh:
            return
        for run in fresh:
            self.events.publish("created", run)
            if run.is_final:  # ended before it started: skipped, queue_full, missed, dst_skipped
                self.events.publish(run.status.value, run)
        self.events.work_available.set()
        if any(run.delayed_until or run.expires_at for run in fresh):
            self.events.schedule_changed.set()

    async def announce(self, results: list[EnqueueResult]) -> None:
        """Publish what new runs did: created, ended at once, and runs stopped by on_overlap = "kill"."""
        for stopped_id in [s for r in results for s in r.stopped]:
            stopped = await self.store.get_run(stopped_id)
            if stopped is not None:
                self.events.publish("canceled", stopped)
        self._announce(results)

    async def trigger(self, req: TriggerRequest) -> EnqueueResult:
        """Create a run; returns only after it is committed. An idempotent hit returns the old run."""
        result = await self.store.enqueue(self.enqueue_params(req))
        self._announce([result])
        return result

    async def start_replica(self, task: str, index: int) -> Run:
        """Start replica `index` of a service, or return its live run (one per replica, across processes)."""
        params = self.enqueue_params(TriggerRequest(task=task, triggered_by=TriggeredBy.SERVICE, max_attempts=1))
        params.replica_index = index
        params.max_duration_s = None  # a service runs until it exits or is stopped
        result = await self.store.enqueue(params)
        self._announce([result])
        return result.run

    async def stop_replicas(self, task: str | None, end_reason: EndReason) -> list[str]:
        """Stop the live replicas of a service (or of all services); their workers stop the processes."""
        stopped = await self.store.stop_replicas(task, end_reason)
        for run_id in stopped:
            run = await self.store.get_run(run_id)
            if run is not None:
                self.events.publish("canceled", run)
        if stopped:
            self.events.work_available.set()
        return stopped

    async def trigger_many(
        self, reqs: list[TriggerRequest], *, batch_id: str | None = None, indices: list[int] | None = None
    ) -> list[EnqueueResult]:
        """Create several runs atomically: all are committed or none. In a batch, each request has an
        index, and a repeated index returns the run made for it before."""
        if indices is None and batch_id is not None:
            indices = list(range(len(reqs)))
        params = [
            self.enqueue_params(r, batch_id=batch_id, index=None if indices is None else indices[i])
            for i, r in enumerate(reqs)
        ]
        results = await self.store.enqueue_many(params)
        self._announce(results)
        return results

    # -- reading -----------------------------------------------------------------------------------
    async def get_run(self, run_id: str) -> Run:
        run = await self.store.get_run(run_id)
        if run is None:
            raise NotFoundError("run not found")
        return run

    async def wait(self, run_id: str, timeout: float) -> Run:
        """The run once it has ended, or as it is when `timeout` seconds have passed."""
        ended = asyncio.Event()

        def on_event(kind: str, run: Run) -> None:
            if run.id == run_id:
                ended.set()

        unsubscribe = self.events.subscribe(on_event)
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                run = await self.get_run(run_id)
                remaining = deadline - asyncio.get_running_loop().time()
                if run.is_final or remaining <= 0:
                    return run
                ended.clear()
                with contextlib.suppress(TimeoutError):  # events cover this process; polls cover others
                    await asyncio.wait_for(ended.wait(), min(remaining, 0.25))
        finally:
            unsubscribe()

    async def why_waiting(self, run: Run) -> str | None:
        """Why a run that has not started is still waiting, in words (None once it has started or ended)."""
        if run.status.value not in ("queued", "delayed"):
            return None
        now = now_us()
        if run.available_at > now:
            return f"delayed until {us_to_rfc3339(run.available_at)}"
        queue = await self.store.get_queue(run.queue)
        if queue is not None and queue.paused:
            return f"queue {queue.name!r} is paused"
        if queue is not None and queue.concurrency_limit is not None:
            if queue.concurrency_limit == 0:
                return f"queue {queue.name!r} has a concurrency limit of 0: its runs are held"
            partition = ListRunsParams(
                queues=[run.queue], concurrency_key=run.concurrency_key, statuses=[RunStatus.EXECUTING]
            )
            busy = await self.store.count_runs(partition)
            scope = f"queue {queue.name!r}"
            if run.concurrency_key:
                scope += f" (concurrency key {run.concurrency_key!r})"
            if busy >= queue.concurrency_limit:
                return f"{scope} is at its concurrency limit of {queue.concurrency_limit}"
        if self.tasks.get(run.task) is None:
            return f"no task {run.task!r} is configured on this server, so no worker here will run it"
        return "due: waiting for a free worker slot"

    async def list_runs(self, params: ListRunsParams) -> RunPage:
        return await self.store.list_runs(params)

    async def count_runs(self, params: ListRunsParams) -> int:
        return await self.store.count_runs(params)

    async def count_by_status(self) -> dict[RunStatus, int]:
        """How many runs there are of each status, in one read."""
        return await self.store.count_by_status()

    async def attempts(self, run_id: str) -> list[Attempt]:
        return await self.store.list_attempts(run_id)

    async def logs(self, run_id: str, after_seq: int = 0, limit: int = 1000) -> list[LogLine]:
        await self.get_run(run_id)
        return await self.store.read_logs(run_id, after_seq, limit)

    async def log_size(self, run_id: str) -> LogSize:
        """How many lines a run's log has, its bytes, and whether lines were dropped at the log cap."""
        return await self.store.log_size(run_id)

    async def queues(self) -> list[Queue]:
        return await self.store.list_queues()

    async def set_queue_limit(self, name: str, concurrency_limit: int | None) -> Queue:
        """Create the queue or change its concurrency limit; runs it held may start at once."""
        queue = await self.store.upsert_queue(name, concurrency_limit)
        self.events.work_available.set()
        return queue

    async def _public_token_key(self) -> bytes:
        if self._token_key is None:
            secret = await self.store.server_secret("public_tokens", secrets.token_bytes(32))
            self._token_key = tokens.derive_key(secret)
        return self._token_key

    async def public_token(self, claims: dict[str, Any], ttl_s: int = 3600) -> str:
        """A public access token (HS256 JWT) carrying `claims`, signed with the server's derived key."""
        return tokens.sign(await self._public_token_key(), claims, ttl_s)

    async def public_token_claims(self, raw: str) -> dict[str, Any] | None:
        """The claims of a valid, unexpired public access token of this server, else None."""
        return tokens.verify(await self._public_token_key(), raw)

    async def api_key_is_valid(self, raw_key: str) -> bool:
        """Whether `raw_key` is an active (not revoked) API key."""
        return await self.store.find_api_key(hash_key(raw_key)) is not None

    # -- changing runs -------------------------------------------------------------------------------
    async def cancel(self, run_id: str) -> Run:
        """Cancel a run; an executing attempt is stopped by its worker. Ended runs are left as they are."""
        try:
            before = await self.store.get_run(run_id)
            if before is None:
                raise NotFoundError("run not found")
            run = await self.store.cancel(run_id)
        except NotFound:
            raise NotFoundError("run not found") from None
        if not before.is_final and run.status.value == "canceled":
            self.events.publish("canceled", run)
            self.events.work_available.set()  # its queue slot is free
        return run

    async def replay(self, run_id: str, **overrides: Any) -> EnqueueResult:
        """A new run of the same task with the same payload and options (overrides win)."""
        old = await self.get_run(run_id)
        req = TriggerRequest(
            task=old.task,
            payload=old.payload,
            payload_type=old.payload_type,
            context=old.context,
            tags=list(old.tags),
            metadata=old.metadata,
            queue=old.queue,
            concurrency_key=old.concurrency_key,
            priority=old.priority,
            ttl_s=old.ttl_s,
            max_attempts=old.max_attempts,
            max_duration_s=old.max_duration_s,
            triggered_by=TriggeredBy.REPLAY,
            replay_of=old.id,
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(req, key, value)
        return await self.trigger(req)

    async def reschedule(self, run_id: str, delay_until: int) -> Run:
        if delay_until > now_us() + int(MAX_SPAN_S * 1_000_000):
            raise BadRequest(f"delay must be at most {MAX_SPAN_S // 86400:.0f} days ahead")
        try:
            run = await self.store.reschedule(run_id, delay_until)
        except NotFound:
            raise NotFoundError("run not found") from None
        except Conflict as exc:
            raise BadRequest(str(exc)) from None
        self.events.schedule_changed.set()
        self.events.work_available.set()
        return run

    async def update_run_info(
        self, run_id: str, *, tags: list[str] | None = None, metadata: dict[str, Any] | None = None
    ) -> Run:
        identifiers.check_tags(tags or [])
        try:
            run = await self.store.update_run_info(run_id, tags=tags, metadata=metadata)
        except NotFound:
            raise NotFoundError("run not found") from None
        self.events.publish("updated", run)
        return run

    async def add_tags(self, run_id: str, tags: list[str], max_tags: int) -> tuple[Run, int]:
        """Add the tags a run lacks in one transaction; returns the run and how many were new. A run would
        hold more than `max_tags` -> BadRequest, nothing changed."""
        try:
            return await self.store.add_run_tags(run_id, tags, max_tags)
        except NotFound:
            raise NotFoundError("run not found") from None
        except Conflict as exc:
            raise BadRequest(str(exc)) from None

    # -- packets -------------------------------------------------------------------------------------------
    async def reserve_packet(self, path: str) -> tuple[str, str]:
        """A single-use token to upload the packet at `path` within PACKET_UPLOAD_TTL_S, and the normalized
        path it is stored under. Presigning a path again keeps its data until the new upload lands."""
        path = packet_path(path)
        token = secrets.token_urlsafe(24)
        await self.store.create_packet(path, token, now_us() + int(PACKET_UPLOAD_TTL_S * 1_000_000))
        return token, path

    async def upload_packet(self, token: str, data: bytes, content_type: str) -> bool:
        return await self.store.fill_packet(token, data, content_type)

    async def packet(self, path: str) -> tuple[bytes, str] | None:
        return await self.store.get_packet(packet_path(path))

    # -- batches -------------------------------------------------------------------------------------
    async def create_batch(
        self, run_count: int, task_identifiers: list[str], idempotency_key: str | None = None
    ) -> tuple[BatchRecord, bool]:
        now = now_us()
        batch = BatchRecord(
            id=new_ulid(),
            run_count=run_count,
            status=BatchStatus.PENDING,
            created_at=now,
            updated_at=now,
            idempotency_key=idempotency_key,
            task_identifiers=task_identifiers,
        )
        return await self.store.create_batch(batch)

    async def get_batch(self, batch_id: str) -> BatchRecord:
        batch = await self.store.get_batch(batch_id)
        if batch is None:
            raise NotFoundError("batch not found")
        return batch

    async def record_batch_items(self, batch_id: str, errors: list[BatchItemError]) -> BatchRecord:
        """Record items that failed (once per index) and seal the batch when every item is a run or an
        error: one transaction."""
        try:
            return await self.store.record_batch_items(batch_id, errors)
        except NotFound:
            raise NotFoundError("batch not found") from None

    async def seal_batch(self, batch_id: str) -> BatchRecord:
        """Seal a batch now (one transaction); a sealed batch -> ConflictError."""
        try:
            return await self.store.record_batch_items(batch_id, [], seal=True)
        except NotFound:
            raise NotFoundError("batch not found") from None
        except Conflict as exc:
            raise ConflictError(str(exc)) from None
