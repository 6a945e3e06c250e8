"""A small process per worker process that kills the worker's subprocesses when the worker dies.

Each shell run is a process group of its own. If its worker is SIGKILLed (or crashes), nothing in the worker
can stop that group, and the run's retry (after the lease) would run next to it. So a worker that starts
subprocesses also starts a reaper: `python reaper.py TOKEN GRACE`, in a session of its own, reading a pipe
from the worker. The worker writes `+PGID RUN_ID` when a run's group starts and `-PGID` when it has ended.
When the pipe reaches EOF (the worker exited, however it exited) the reaper

1. sends SIGTERM to every group still registered, and to every process whose environment holds
   RUNYARD_WORKER_TOKEN=TOKEN and the RUNYARD_RUN_ID of a registered run (descendants that left the group,
   found by scanning /proc/*/environ),
2. waits up to GRACE seconds for them to exit, then SIGKILLs what is left, and exits.

`kill\\n` asks for the same at once without exiting (`Reaper.kill_now()`). The reaper imports only the
standard library and is started on the first `track()`, so workers that never start a subprocess have none.
One reaper per worker process: create it in the process that starts the subprocesses (after any fork).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time

TOKEN_VAR = "RUNYARD_WORKER_TOKEN"
RUN_VAR = "RUNYARD_RUN_ID"
log = logging.getLogger("runyard.reaper")


class Reaper:
    """The worker's side: registers process groups with its reaper process (started on first use)."""

    def __init__(self, token: str, grace: float = 5.0) -> None:
        self.token = token
        self.grace = grace
        self._proc: subprocess.Popen[bytes] | None = None
        self._groups: dict[int, str] = {}  # pgid -> run id

    @classmethod
    def start(cls, token: str, grace: float = 5.0) -> Reaper:
        reaper = cls(token, grace)
        reaper._ensure()
        return reaper

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def track(self, pgid: int, run_id: str) -> None:
        self._groups[pgid] = run_id
        self._send(f"+{pgid} {run_id}\n")

    def untrack(self, pgid: int) -> None:
        if self._groups.pop(pgid, None) is not None:
            self._send(f"-{pgid}\n")

    def kill_now(self) -> None:
        """Kill every registered group (and its escaped descendants) now; the reaper keeps running."""
        if self._groups:
            self._send("kill\n")

    def close(self) -> None:
        """Close the pipe: the reaper kills what is still registered (normally nothing) and exits."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        proc.poll()  # not waited for: it exits on its own (and is reaped by the next Popen or at exit)

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", os.path.abspath(__file__), self.token, str(self.grace)],
                stdin=subprocess.PIPE, start_new_session=True, close_fds=True,
            )  # fmt: skip
            lines = "".join(f"+{pgid} {run_id}\n" for pgid, run_id in self._groups.items())
            if lines:
                self._write(self._proc, lines)
        return self._proc

    def _send(self, line: str) -> None:
        if not self._write(self._ensure(), line):  # the reaper died: a new one gets every registered group
            self._proc = None
            self._ensure()

    @staticmethod
    def _write(proc: subprocess.Popen[bytes], text: str) -> bool:
        assert proc.stdin is not None
        try:
            proc.stdin.write(text.encode())
            proc.stdin.flush()
            return True
        except (BrokenPipeError, ValueError):
            log.warning("the subprocess reaper %s had exited; starting a new one", proc.pid)
            return False


# -- the reaper process ----------------------------------------------------------------------------


def escaped_processes(token: str, run_ids: set[str]) -> list[int]:
    """Pids whose environment carries `token` and one of `run_ids` (readable: the same user's processes)."""
    token_entry = f"{TOKEN_VAR}={token}".encode()
    found = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                entries = f.read().split(b"\0")
        except OSError:
            continue
        if token_entry in entries and any(f"{RUN_VAR}={r}".encode() in entries for r in run_ids):
            found.append(int(name))
    return found


def _signal(pgids: set[int], pids: list[int], sig: signal.Signals) -> None:
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pgids: set[int], pids: list[int]) -> bool:
    for pgid in pgids:
        try:
            os.killpg(pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                    return True
        except (OSError, IndexError):
            pass
    return False


def reap(token: str, groups: dict[int, str], grace: float) -> None:
    """SIGTERM the registered groups and their escaped descendants, SIGKILL them after `grace`."""
    if not groups:
        return
    pgids = set(groups)
    pids = escaped_processes(token, set(groups.values()))
    _signal(pgids, pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pgids, pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = sorted(set(pids) | set(escaped_processes(token, set(groups.values()))))
    _signal(pgids, pids, signal.SIGKILL)


def main(argv: list[str]) -> None:
    token, grace = argv[0], float(argv[1])
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    groups: dict[int, str] = {}
    for raw in sys.stdin.buffer:
        line = raw.decode(errors="replace").strip()
        if line.startswith("+"):
            pgid, _, run_id = line[1:].partition(" ")
            groups[int(pgid)] = run_id
        elif line.startswith("-"):
            groups.pop(int(line[1:]), None)
        elif line == "kill":
            reap(token, groups, grace)
            groups.clear()
    reap(token, groups, grace)


if __name__ == "__main__":
    main(sys.argv[1:])
