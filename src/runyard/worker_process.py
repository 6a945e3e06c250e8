"""A worker process: `python -m runyard.worker_process` runs a `Worker` whose store is the server's.

The process imports only the worker side of runyard (no web framework, no SQLite): it connects to the
server's hub (an inherited socketpair end, `--fd`, or the server's socket, `--connect`), says hello, gets
the settings and tasks back, and runs the ordinary `Worker` against a `RemoteStore`. Wake-ups and cancels
arrive as notices on the same channel.

It dies with its parent: PR_SET_PDEATHSIG delivers SIGTERM when the process that started it exits, and a
closed channel (the server is gone) stops it at once. SIGTERM stops it gracefully: no new claims, running
attempts finish for a grace period (a third of the lease), then they are stopped and left to their leases.
SIGINT is ignored, so a Ctrl-C in a terminal reaches only the server, which stops its workers in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

import msgspec

from runyard import heap
from runyard.checks import task_problems
from runyard.events import EventBus
from runyard.ids import new_ulid
from runyard.ipc import Channel, NoticeHandler, decode
from runyard.tasks import TaskRegistry
from runyard.worker import Worker
from runyard.worker_store import Hello, RemoteStore, decode_welcome

log = logging.getLogger("runyard.worker")
PR_SET_PDEATHSIG = 1
Opener = Callable[[NoticeHandler], Awaitable[Channel]]


def die_with_parent(parent: int, sig: signal.Signals = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` when the parent exits; exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


async def serve_worker(open_channel: Opener, *, concurrency: int | None = None, grace: float | None = None) -> None:
    """Run one worker on a channel to the hub until SIGTERM, a `stop` notice, or the channel closes."""
    bus = EventBus()
    stopping = asyncio.Event()

    def on_notice(kind: str, body: msgspec.Raw) -> None:
        if kind == "wake":
            bus.work_available.set()
        elif kind == "cancel":
            bus.request_cancel(decode(body, str))
        elif kind == "stop":
            stopping.set()

    channel = await open_channel(on_notice)
    serving = asyncio.create_task(channel.serve())
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{new_ulid()[-6:]}"
    welcome = decode_welcome(await channel.call("hello", Hello(worker_id=worker_id, pid=os.getpid())))
    for path in reversed(welcome.sys_path):
        if path not in sys.path:
            sys.path.insert(0, path)
    tasks = TaskRegistry({t.name: t for t in welcome.tasks})
    for problem in task_problems(tasks, welcome.settings.config_path):  # imports the targets once, up front
        log.error("a task cannot run in worker process %s: %s", os.getpid(), problem)
    worker = Worker(RemoteStore(channel), tasks, bus, welcome.settings, worker_id=worker_id, concurrency=concurrency)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread: the caller handles signals
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
    await worker.start()
    stop_wait = asyncio.ensure_future(stopping.wait())
    closed_wait = asyncio.ensure_future(channel.closed.wait())
    await asyncio.wait({stop_wait, closed_wait}, return_when=asyncio.FIRST_COMPLETED)
    stop_wait.cancel()
    closed_wait.cancel()
    await worker.stop(grace=0.0 if channel.closed.is_set() else grace)
    channel.close()
    serving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await serving


def _run(coro: Awaitable[None]) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(coro)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runyard.worker_process")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fd", type=int, help="an inherited, connected socket to the hub")
    where.add_argument("--connect", help="the hub's unix socket path")
    parser.add_argument("--parent", type=int, default=os.getppid())
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    heap.fewer_collections()

    async def open_channel(on_notice: NoticeHandler) -> Channel:
        if args.fd is not None:
            return await Channel.over(socket.socket(fileno=args.fd), on_notice=on_notice)
        return await Channel.connect(args.connect, on_notice=on_notice)

    _run(serve_worker(open_channel, concurrency=args.concurrency))


if __name__ == "__main__":
    main()
