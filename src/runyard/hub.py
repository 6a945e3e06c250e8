"""The server side of worker processes: one store, many workers, wake-ups and cancels without polling.

Every worker process on this machine (the server's own children, and any `runyard worker` that finds the
server's socket, `<data_dir>/runyard.sock` by default, mode 0600) holds one `ipc.Channel` to the hub. The
hub runs the worker's store operations (`worker_store.WORKER_OPS`) on the server's store, so SQLite keeps
one writer whose group commits all worker processes share. Back over the same channel go
- `wake`: the server's `work_available` signal (a trigger, a freed slot, a due retry), coalesced to one
  notice per loop turn, so an idle worker process claims within a round trip and never polls;
- `cancel`: a run was canceled, stop it now.
Run events are published here, on the server's bus, from what the store answered the workers' operations:
`started` for each claimed run, then `completed`, `failed`, `retrying` or `timed_out` with the run as its
outcome wrote it; so waits and streams see them, and no run travels back a second time as a notice.

When a worker's connection ends, the hub waits until its process has exited (a pidfd) and then releases its
attempts that cannot outlive it (Python, webhook, no-op) through the lease path at once: their lease is set
to expire now and the maintainer retries or crashes them as it would after a missed heartbeat. Shell runs
are left to their lease, since their process group may still be stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import msgspec

from runyard.events import EventBus
from runyard.ipc import Channel, decode
from runyard.models import Claimed, Run
from runyard.settings import Settings
from runyard.store.base import FailParams, Store
from runyard.tasks import TaskRegistry
from runyard.worker_store import WORKER_OPS, Hello, Welcome, encode_welcome, outcome_event, outcome_events

log = logging.getLogger("runyard.hub")


class _AttemptRef(msgspec.Struct):
    attempt_id: str


class _RunRef(msgspec.Struct, array_like=True):
    """The first field of an operation's arguments (array-like), when it is the run's id."""

    run_id: str


class Connection:
    """One worker process's channel, and the attempts it holds."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.worker_id: str | None = None
        self.pid: int | None = None
        self.attempts: dict[str, str] = {}  # attempt id -> task name
        self.serving: asyncio.Task[None] | None = None


async def process_exit(pid: int, timeout: float) -> bool:
    """Wait until process `pid` has exited (True), at most `timeout` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def exited() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(fd, exited)
    try:
        await asyncio.wait_for(gone, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _free_socket_path(path: Path) -> bool:
    """True if the hub may listen on `path` (removing a socket left by a server that is gone)."""
    if len(os.fsencode(path)) >= 100:
        log.warning("not listening for workers on %s: the path is too long for a unix socket", path)
        return False
    if path.exists():
        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()
        else:
            log.warning("another runyard server listens on %s; this one takes no worker connections", path)
            return False
        finally:
            probe.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    return True


class Hub:
    def __init__(self, store: Store, tasks: TaskRegistry, events: EventBus, settings: Settings) -> None:
        self.store = store
        self.tasks = tasks
        self.events = events
        self.settings = settings
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._socket_path: Path | None = None
        self._wake_pending = False
        self._unsubscribe: list[Any] = []
        self._releases: set[asyncio.Task[None]] = set()

    async def start(self, socket_path: Path | None = None) -> None:
        self._unsubscribe = [self.events.work_available.watch(self._wake_soon), self.events.on_cancel(self._cancel)]
        if socket_path is not None:
            await self._listen(socket_path)

    async def _listen(self, path: Path) -> None:
        if not _free_socket_path(path):
            return
        old = os.umask(0o177)  # the socket is as private as the admin key
        try:
            self._server = await asyncio.start_unix_server(self._accept, path=str(path), limit=2**20)
        finally:
            os.umask(old)
        self._socket_path = path

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self._open(Channel(reader, writer))
        assert conn.serving is not None
        with contextlib.suppress(asyncio.CancelledError):
            await conn.serving

    async def attach(self, sock: socket.socket) -> Connection:
        """Serve a worker process on its end of a socketpair."""
        channel = await Channel.over(sock)
        return self._open(channel)

    def _open(self, channel: Channel) -> Connection:
        conn = Connection(channel)
        channel.on_call = lambda op, raw: self._call(conn, op, raw)
        self.connections.add(conn)
        conn.serving = asyncio.create_task(self._serve(conn), name="runyard-hub-connection")
        return conn

    async def _serve(self, conn: Connection) -> None:
        try:
            await conn.channel.serve()
        finally:
            self.connections.discard(conn)
            if conn.attempts and conn.pid is not None:
                task = asyncio.create_task(self._release(conn))
                self._releases.add(task)
                task.add_done_callback(self._releases.discard)

    async def _call(self, conn: Connection, op: str, raw: msgspec.Raw) -> Any:
        if op == "hello":
            hello = decode(raw, Hello)
            conn.worker_id, conn.pid = hello.worker_id, hello.pid
            welcome = Welcome(settings=self.settings, tasks=list(self.tasks), sys_path=list(sys.path))
            return encode_welcome(welcome)
        handler = WORKER_OPS.get(op)
        if handler is None:
            raise ValueError(f"unknown worker operation {op!r}")
        result = await handler(self.store, raw)
        if op == "claim_batch":
            for claimed in result:
                assert isinstance(claimed, Claimed)
                conn.attempts[claimed.attempt.id] = claimed.run.task
                self.events.publish("started", claimed.run)
        elif op == "complete_attempts":
            for ref, done in zip(decode(raw, list[_AttemptRef]), result, strict=True):
                conn.attempts.pop(ref.attempt_id, None)
                if done is not None:
                    assert isinstance(done, Run)
                    self.events.publish(outcome_event(done), done)
        elif op == "fail_attempt":
            conn.attempts.pop(decode(raw, _AttemptRef).attempt_id, None)
            if result is not None:
                assert isinstance(result, Run)
                # the run's own event, and `created` for a run that retries it as a new run
                for kind, changed in await outcome_events(self.store, decode(raw, FailParams), result):
                    self.events.publish(kind, changed)
        elif op == "heartbeat":
            for attempt_id in result:
                conn.attempts.pop(attempt_id, None)
        elif op == "append_logs":
            self.events.logs_written(decode(raw, _RunRef).run_id)  # live log readers wake up
        elif op == "release_attempt" and result:
            self.events.work_available.set()  # a canceled run's code stopped: its queue slot is free
        return result

    def _wake_soon(self) -> None:
        if not self._wake_pending and self.connections:
            self._wake_pending = True
            asyncio.get_running_loop().call_soon(self._wake_all)

    def _wake_all(self) -> None:
        self._wake_pending = False
        for conn in list(self.connections):
            conn.channel.notify("wake")

    def _cancel(self, run_id: str) -> None:
        for conn in list(self.connections):
            conn.channel.notify("cancel", run_id)

    async def _release(self, conn: Connection) -> None:
        """A worker process is gone: once it has exited, let the maintainer retry what died with it."""
        assert conn.pid is not None and conn.worker_id is not None
        if not await process_exit(conn.pid, self.settings.lease_s):
            return  # still alive without its channel: its leases decide
        ids = [a for a, name in conn.attempts.items() if (t := self.tasks.get(name)) is None or t.kind != "shell"]
        if not ids:
            return
        log.warning("worker %s exited with %d attempts; retrying them through their leases", conn.worker_id, len(ids))
        try:
            await self.store.heartbeat(conn.worker_id, ids, 0.0)  # their leases end now
        except Exception:
            log.exception("could not end the leases of worker %s; they expire on their own", conn.worker_id)
            return
        self.events.schedule_changed.set()

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._server is not None:
            self._server.close()
            self._server = None
            if self._socket_path is not None:
                with contextlib.suppress(OSError):
                    self._socket_path.unlink()
        for conn in list(self.connections):
            conn.channel.close()
        if self._releases:
            await asyncio.wait(set(self._releases), timeout=5)

    def describe(self) -> list[dict[str, Any]]:
        return [{"id": c.worker_id, "pid": c.pid, "running": len(c.attempts)} for c in self.connections if c.worker_id]
