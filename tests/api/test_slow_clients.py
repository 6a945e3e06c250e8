"""Slow and broken clients are cut off: no complete headers within `header_timeout`, a body that stops
arriving for `body_timeout`; one log line each, no traceback; the server keeps answering everyone else."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_healthy

pytestmark = pytest.mark.slow
API_KEY = "ry_slow_client_key_0123456789abcdef"
CONFIG = '[server]\nheader_timeout = "1s"\nbody_timeout = "1s"\n\n[tasks.hello]\nnoop = true\n'


def closed(sock: socket.socket, within: float) -> bool:
    """Whether the server closes `sock` within `within` seconds (reads until EOF or a reset)."""
    sock.settimeout(within)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            if sock.recv(65536) == b"":
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def test_idle_half_sent_and_short_bodied_connections_are_cut_off(tmp_path: Path) -> None:
    (tmp_path / "runyard.toml").write_text(CONFIG)
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp_path / "data")}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "runyard"), "server", "--config", str(tmp_path / "runyard.toml"),
         "--listen", f"127.0.0.1:{port}", "--database", f"sqlite:///{tmp_path / 'db.sqlite'}", "--processes", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    sockets: list[socket.socket] = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]  # connect, send nothing
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"POST /v1/tasks/hello/trigger HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        short = socket.create_connection(("127.0.0.1", port))
        short.sendall(
            b"POST /v1/tasks/hello/trigger HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + API_KEY.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"payload\":"
        )  # fmt: skip
        sockets += [*idle, half, short]
        # Everyone else is still served while those connections wait.
        ok = httpx.post(f"http://127.0.0.1:{port}/v1/tasks/hello/trigger", json={}, headers={"x-api-key": API_KEY})
        assert ok.status_code == 201
        held = socket.create_connection(("127.0.0.1", port))  # the key is verified now: a direct route waits
        held.sendall(
            b"POST /v1/tasks/hello/trigger HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + API_KEY.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"payload\":"
        )  # fmt: skip
        sockets.append(held)
        busy = socket.create_connection(("127.0.0.1", port), timeout=5)
        sockets.append(busy)
        for _ in range(4):  # a keep-alive connection in use is never cut by the timer of an earlier request
            busy.sendall(
                b"POST /v1/tasks/hello/trigger HTTP/1.1\r\nHost: x\r\nx-api-key: " + API_KEY.encode()
                + b"\r\nContent-Length: 2\r\n\r\n{}"
            )  # fmt: skip
            answer = busy.recv(65536)
            assert answer.startswith(b"HTTP/1.1 201 "), answer
            time.sleep(0.6)
        assert closed(short, 15) and closed(half, 15) and closed(held, 15)
        assert all(closed(s, 15) for s in idle), "idle connections must be closed"
        time.sleep(0.3)  # the log lines are written as the connections close
        text = log.read_text()
        assert "Traceback" not in text, text[-3000:]
        cut = [line for line in text.splitlines() if "cut off" in line]
        assert len(cut) == 203, (len(cut), cut[:3])
        assert sum("no more of the request body" in line for line in cut) == 2
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": API_KEY}) as client:
            runs = client.get("/v1/runs").json()["runs"]
        assert len(runs) == 5  # the short bodies created nothing
    finally:
        for s in sockets:
            s.close()
        server.terminate()
        server.wait(timeout=30)
