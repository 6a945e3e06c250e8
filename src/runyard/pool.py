"""Worker processes: start N of them, restart one that dies, stop them in order.

Each child runs `runyard.worker_process`: forked from the server before it serves (`fork_now`; see
`runyard.forking`: the forks share its pages), or, when started later, a fresh `python -m
runyard.worker_process`. It either gets one end of a socketpair to the hub of this process (`runyard
server`, a `runyard worker` with its own store), or connects to a server's socket (`runyard worker` next to
a server). The child sets PR_SET_PDEATHSIG, so it dies with this process even when this process is SIGKILLed.

A child that dies is started again after a backoff (0.5 s, doubling while it keeps dying young, at most
30 s). Its attempts are released by the hub once the process is gone (see `runyard.hub`). `stop()` sends
SIGTERM to every child (stop claiming, finish running attempts for the grace period, then stop them),
waits for them, and SIGKILLs whatever is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time

from runyard.forking import ForkedProcess, can_fork, fork_worker, freeze
from runyard.hub import Hub, process_exit

log = logging.getLogger("runyard.pool")
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
YOUNG_S = 10.0  # a child that dies younger than this counts as crashing; the backoff grows
# A child that stopped cleanly (exit 0) was told to stop — often by a signal its whole group or cgroup got
# (systemd stopping the service, a terminal): it is started again only after this, by which time a server
# that got the same signal is stopping and starts nothing new.
CLEAN_EXIT_DELAY_S = 1.0


Process = subprocess.Popen[bytes] | ForkedProcess


def _spawn(args: list[str], fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
    """A child in its own process group: a terminal's Ctrl-C (or any signal to this group) reaches only this
    process, which then stops the children in order; PR_SET_PDEATHSIG still ends them if this one dies."""
    return subprocess.Popen(args, pass_fds=fds, stdin=subprocess.DEVNULL, process_group=0)


class Child:
    def __init__(self, slot: int, proc: Process) -> None:
        self.slot = slot
        self.proc = proc
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid


class WorkerPool:
    """`count` worker processes, attached to `hub` (socketpairs) or connecting to `connect` (a socket path)."""

    def __init__(
        self, count: int, *, hub: Hub | None = None, connect: str | None = None, concurrency: int | None = None,
        stop_grace_s: float = 10.0,
    ) -> None:  # fmt: skip
        if (hub is None) == (connect is None):
            raise ValueError("a pool attaches to a hub or connects to a socket path")
        self.count = count
        self.hub = hub
        self.connect = connect
        self.concurrency = concurrency
        self.stop_grace_s = stop_grace_s
        self._forked: dict[int, tuple[ForkedProcess, socket.socket | None]] = {}  # by slot, before start()
        self.children: dict[int, Child] = {}  # by slot
        self.restarts = 0
        self._stopping = False
        self._supervisors: list[asyncio.Task[None]] = []

    def fork_now(self, close: list[int]) -> None:
        """Fork the worker processes now, while this process is one thread with everything imported, so that
        they share its memory (`runyard.forking`); `start()` then adopts them. `close`: descriptors the
        children must not keep (the listening socket). Not called, or with threads running, `start()` spawns."""
        if not can_fork():
            return
        freeze()
        for slot in range(self.count):
            ours: socket.socket | None = None
            if self.hub is not None:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                argv = [*self._args(), "--fd", str(theirs.fileno())]
                shut = [*close, ours.fileno(), *(s.fileno() for _, s in self._forked.values() if s is not None)]
                try:
                    self._forked[slot] = (fork_worker(argv, shut), ours)
                finally:
                    theirs.close()
            else:
                assert self.connect is not None
                self._forked[slot] = (fork_worker([*self._args(), "--connect", self.connect], close), None)

    async def start(self) -> None:
        for slot in range(self.count):
            if slot in self._forked:
                proc, ours = self._forked.pop(slot)
                if ours is not None and self.hub is not None:
                    await self.hub.attach(ours)
                self.children[slot] = Child(slot, proc)
            else:
                await self._launch(slot)
            self._supervisors.append(asyncio.create_task(self._supervise(slot), name=f"runyard-pool-{slot}"))

    def _args(self) -> list[str]:
        return [] if self.concurrency is None else ["--concurrency", str(self.concurrency)]

    async def _launch(self, slot: int) -> None:
        args = [sys.executable, "-m", "runyard.worker_process", "--parent", str(os.getpid()), *self._args()]
        if self.hub is not None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                proc = _spawn([*args, "--fd", str(theirs.fileno())], (theirs.fileno(),))
            finally:
                theirs.close()
            await self.hub.attach(ours)
        else:
            assert self.connect is not None
            proc = _spawn([*args, "--connect", self.connect], ())
        self.children[slot] = Child(slot, proc)

    async def _supervise(self, slot: int) -> None:
        backoff = BACKOFF_START_S
        while True:
            child = self.children[slot]
            while not await process_exit(child.pid, 3600):
                pass
            code = child.proc.wait()
            if code == 0 and not self._stopping:
                await asyncio.sleep(CLEAN_EXIT_DELAY_S)
            if self._stopping:
                return
            lived = time.monotonic() - child.started
            backoff = BACKOFF_START_S if lived > YOUNG_S else min(BACKOFF_MAX_S, backoff * 2)
            delay = 0.0 if lived > YOUNG_S else backoff
            log.warning("worker process %d exited (%s); starting another in %.1fs", child.pid, code, delay)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self._launch(slot)
            except OSError:
                log.exception("could not start a worker process")
                continue
            self.restarts += 1

    def pids(self) -> list[int]:
        return [c.pid for c in self.children.values() if c.proc.poll() is None]

    async def stop(self) -> None:
        """SIGTERM every child, wait for them to finish (grace period plus a margin), SIGKILL the rest."""
        self._stopping = True
        for child in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        waits = [process_exit(c.pid, self.stop_grace_s + 10) for c in self.children.values()]
        await asyncio.gather(*waits)
        for child in self.children.values():
            if child.proc.poll() is None:
                log.warning("worker process %d did not stop; killing it", child.pid)
                child.proc.kill()
            child.proc.wait()
        for task in self._supervisors:
            task.cancel()
        for task in self._supervisors:
            with contextlib.suppress(asyncio.CancelledError):
                await task
