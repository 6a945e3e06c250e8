"""A `kill -9` of the server in the middle of a burst of concurrent triggers loses no acknowledged run.

The server runs as a real process with its embedded worker. While triggers stream in over HTTP and runs
execute, it is killed with SIGKILL, restarted on the same database, and every run that got a 201 must be
there and reach an end: runs that were executing when it died are crashed by lease expiry and retried.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_healthy

pytestmark = pytest.mark.slow

API_KEY = "ry_acceptance_key_0123456789abcdef"
CONFIG = """
[server]
lease = "1s"
poll_interval = "0.2s"

[tasks.quick]
run = "echo quick"

[tasks.slow]
run = "sleep 0.5; echo slow"
retry = { attempts = 3, min = "0.1s", max = "0.2s" }
"""


@contextmanager
def server(tmp: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    config = tmp / "runyard.toml"
    config.write_text(CONFIG)
    runyard = Path(sys.executable).parent / "runyard"
    proc = subprocess.Popen(
        [str(runyard), "server", "--config", str(config), "--listen", f"127.0.0.1:{port}",
         "--database", f"sqlite:///{tmp / 'runyard.db'}"],
        env={**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp / "data")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


KILL_AFTER = 60  # acknowledged triggers before the kill; the 16 streams still have requests in flight


async def trigger_burst(base: str, acknowledged: list[str], stop: asyncio.Event, enough: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=5) as client:

        async def one_stream(n: int) -> None:
            i = 0
            while not stop.is_set():
                task = "slow" if (i + n) % 4 == 0 else "quick"
                i += 1
                try:
                    resp = await client.post(f"/api/tasks/{task}/run")
                except httpx.HTTPError:
                    return  # the server is gone: whatever was not acknowledged may be lost
                if resp.status_code == 201:
                    acknowledged.append(resp.json()["id"])
                    if len(acknowledged) >= KILL_AFTER:
                        enough.set()

        await asyncio.gather(*(one_stream(n) for n in range(16)))


def test_kill9_mid_burst_loses_no_acknowledged_run(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    with server(tmp_path, port) as proc:

        async def burst_then_kill() -> None:
            stop, enough = asyncio.Event(), asyncio.Event()
            burst = asyncio.create_task(trigger_burst(base, acknowledged, stop, enough))
            # Runs are being triggered, queued and executed; a slow machine only makes the burst longer.
            await asyncio.wait([burst, asyncio.create_task(enough.wait())], timeout=60, return_when="FIRST_COMPLETED")
            os.kill(proc.pid, signal.SIGKILL)
            await asyncio.sleep(0.2)
            stop.set()
            await burst

        asyncio.run(burst_then_kill())
        proc.wait()
    assert len(acknowledged) >= KILL_AFTER, "the burst should have been acknowledged many times before the kill"

    with server(tmp_path, port):
        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
            deadline = time.monotonic() + 60
            pending = set(acknowledged)
            statuses: dict[str, dict[str, object]] = {}
            while pending and time.monotonic() < deadline:
                for run_id in list(pending):
                    resp = client.get(f"/api/runs/{run_id}")
                    assert resp.status_code == 200, f"acknowledged run {run_id} is missing after the kill"
                    body = resp.json()
                    if body["status"] == "ended":
                        statuses[run_id] = body
                        pending.discard(run_id)
                if pending:
                    time.sleep(0.2)
            assert not pending, f"{len(pending)} acknowledged runs never ended"
    reasons = {str(b.get("end_reason")) for b in statuses.values()}
    assert reasons <= {"success", "crashed"}, reasons
    retried = [b for b in statuses.values() if int(str(b["retry_attempt"])) > 0]
    assert all(b["end_reason"] == "success" for b in retried)
