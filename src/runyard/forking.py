"""Worker processes forked from the server as it starts, so that they share its memory pages.

A fresh interpreter per worker process costs about 27 MB RSS of its own (the interpreter, asyncio, msgspec,
the task modules, all imported again). Forked from the server once everything is imported, a worker shares
those pages copy-on-write and pays only for the pages it changes. A running server cannot fork safely (its
store thread and event loop would be copied mid-flight), so the first worker processes are forked while the
server is still one thread, before it serves (`fork_worker`, called by `WorkerPool.fork_now`); `gc.freeze()`
first, so that no collection in any of them writes to the objects they share. A worker started later (one
that replaces a worker that died) is a fresh interpreter, as before.

A forked worker is in its own process group, dies with the server (PR_SET_PDEATHSIG, as a spawned one), and
leaves through `os._exit`, so nothing of the server's state (its sockets, atexit handlers) runs in it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import traceback

log = logging.getLogger("runyard.pool")
PR_SET_NAME = 15


class ForkedProcess:
    """A worker process this process forked: the parts of `subprocess.Popen` the pool uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _name(name: bytes) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def can_fork() -> bool:
    """Only a single-threaded process may fork a worker (a thread's locks would be copied held)."""
    if threading.active_count() > 1:
        log.warning("threads are running: worker processes start as new interpreters instead of forks")
        return False
    return True


def freeze() -> None:
    """Move every object to the permanent generation: collections in the forks never touch the shared pages."""
    import runyard.worker_process  # noqa: F401  (the workers' side, imported here once, shared by all)

    gc.collect()
    gc.freeze()
    sys.stdout.flush()
    sys.stderr.flush()


def fork_worker(argv: list[str], close: list[int]) -> ForkedProcess:
    """Fork a process that runs `runyard.worker_process` with `argv`; it closes the descriptors in `close`
    (the server's listening socket, its ends of the hub's socketpairs)."""
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return ForkedProcess(pid)
    code = 1
    try:
        os.setpgid(0, 0)
        _name(b"runyard-worker")  # its command line is the server's; `ps -o comm`, `pgrep runyard-worker`
        for fd in close:
            os.close(fd)
        from runyard.worker_process import main

        main([*argv, "--parent", str(parent)])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
