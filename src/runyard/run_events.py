"""Typed run events: one numbered stream of what happened to runs, for every consumer (SSE, CLI, dashboard).

Every run change the engine makes is published on the process's `EventBus` (the service after its writes, the
maintainer after its duties, workers after their outcomes; a worker process's events reach the server's bus
through the hub), and the bus records each as a `RunEvent` here. Events are numbered from the server's start
time in microseconds, so ids grow across restarts; the newest `keep` are kept so that a stream can resume
after a reconnect (`Last-Event-ID`). Consumers `follow()` the log instead of polling the store. On PostgreSQL,
LISTEN/NOTIFY would feed `record()` from other servers (the seam is `record`).
"""

from __future__ import annotations

import asyncio
import collections
import enum

import msgspec

from runyard.ids import now_us
from runyard.models import Run

KEEP = 10_000  # events kept for resuming streams
SUBSCRIBER_BACKLOG = 10_000  # a subscriber this far behind is dropped (it reconnects and resumes)


class RunEventKind(enum.StrEnum):
    CREATED = "created"
    STARTED = "started"
    UPDATED = "updated"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    DELETED = "deleted"


# The bus's event names (some finer than the typed kinds) -> the typed kind.
KIND_OF = {
    "created": RunEventKind.CREATED,
    "started": RunEventKind.STARTED,
    "updated": RunEventKind.UPDATED,
    "requeued": RunEventKind.UPDATED,  # a lost lease: retried
    "retrying": RunEventKind.UPDATED,
    "completed": RunEventKind.COMPLETED,
    "failed": RunEventKind.FAILED,
    "timed_out": RunEventKind.FAILED,
    "crashed": RunEventKind.FAILED,
    "expired": RunEventKind.FAILED,
    "system_failure": RunEventKind.FAILED,
    "canceled": RunEventKind.CANCELED,
    "deleted": RunEventKind.DELETED,
}


class RunEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: RunEventKind
    run: Run
    at: int  # microseconds UTC


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    """A resume point older than the kept events: the events after `last_id` up to the kept ones are lost."""

    last_id: int


class Subscription:
    """One consumer's view of the log: the replayed events first, then live ones as they are recorded."""

    def __init__(self, log: RunEventLog, after: int | None) -> None:
        self._log = log
        self._queue: asyncio.Queue[RunEvent] = asyncio.Queue(maxsize=SUBSCRIBER_BACKLOG)
        self._pending: collections.deque[RunEvent | Gap] = collections.deque()
        self.overflowed = False
        self.last_id = log.last_id if after is None else after
        if after is not None:
            self._pending.extend(log.since(after))
        log._subscribers.add(self)

    def push(self, event: RunEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:  # too slow: its stream ends, and it resumes from its last id
            self.overflowed = True
            self.close()

    async def get(self, timeout: float | None) -> RunEvent | Gap | None:
        """The next event; None if `timeout` seconds pass first. Raises EOFError once it fell too far behind."""
        if self._pending:
            item = self._pending.popleft()
            if isinstance(item, RunEvent):
                self.last_id = item.id
            return item
        while True:
            if self.overflowed and self._queue.empty():
                raise EOFError("the subscriber fell too far behind")
            try:
                async with asyncio.timeout(timeout):
                    event = await self._queue.get()
            except TimeoutError:
                return None
            if event.id > self.last_id:
                self.last_id = event.id
                return event

    def close(self) -> None:
        self._log._subscribers.discard(self)


class RunEventLog:
    def __init__(self, keep: int = KEEP) -> None:
        self._next = now_us()
        self._kept: collections.deque[RunEvent] = collections.deque(maxlen=keep)
        self._subscribers: set[Subscription] = set()

    @property
    def last_id(self) -> int:
        return self._next - 1

    def record(self, kind: str, run: Run) -> RunEvent | None:
        """Number and keep an event, and hand it to every subscriber (None for kinds that are not run events)."""
        typed = KIND_OF.get(kind)
        if typed is None:
            return None
        event = RunEvent(id=self._next, kind=typed, run=run, at=now_us())
        self._next += 1
        self._kept.append(event)
        for subscriber in list(self._subscribers):
            subscriber.push(event)
        return event

    def since(self, after: int) -> list[RunEvent | Gap]:
        """The kept events after id `after`, led by a Gap if some after it are no longer kept (or were
        numbered by an earlier server process)."""
        if after >= self.last_id:
            return []
        kept: list[RunEvent | Gap] = [e for e in self._kept if e.id > after]
        oldest = self._kept[0].id if self._kept else self._next
        return [Gap(last_id=after), *kept] if oldest > after + 1 else kept

    def subscribe(self, after: int | None = None) -> Subscription:
        """Events after id `after` (None: from now on); close the subscription when done."""
        return Subscription(self, after)
