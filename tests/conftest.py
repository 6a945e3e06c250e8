"""Shared fixtures: a real runyard server over a real socket, with a fresh SQLite database."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from runyard import serving
from runyard.api.app import create_app
from runyard.runtime import Runtime
from runyard.settings import load_settings

API_KEY = "ry_test_key_0123456789abcdefghijkl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, url: str, runtime: Runtime, server: uvicorn.Server, thread: threading.Thread) -> None:
        self.url = url
        self.api_key = API_KEY
        self.runtime = runtime
        self._server = server
        self._thread = thread

    def client(self, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10, **kw)  # type: ignore[arg-type]

    def wait_for(
        self, run_id: str, check: Callable[[dict[str, object]], bool], timeout: float = 15
    ) -> dict[str, object]:
        """Poll the native API until `check(run)` holds."""
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while True:
                run: dict[str, object] = c.get(f"/v1/runs/{run_id}").json()
                if check(run):
                    return run
                assert time.monotonic() < deadline, f"run {run_id} stuck: {run.get('status')}"
                time.sleep(0.03)

    def wait_for_workers(self, count: int, timeout: float = 20) -> None:
        """Wait until `count` worker processes have said hello to the server's hub."""
        deadline = time.monotonic() + timeout
        while len(self.runtime.hub.connections) < count:
            assert time.monotonic() < deadline, "the worker processes did not connect"
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)


@pytest.fixture
def live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., LiveServer]]:
    """`srv = live_server('''[tasks.hello]\\nrun = "echo hi"''')`: a running server with those tasks."""
    servers: list[LiveServer] = []
    monkeypatch.setenv("RUNYARD_API_KEY", API_KEY)
    sockets = Path(tempfile.mkdtemp(prefix="ry-"))

    def start(config: str = "", **overrides: object) -> LiveServer:
        """Runs execute in the server process unless `processes=N` asks for worker processes."""
        path = tmp_path / f"runyard-{len(servers)}.toml"
        path.write_text(config)
        port = free_port()
        overrides.setdefault("processes", 0)
        overrides.setdefault("database", f"sqlite:///{tmp_path / f'db-{len(servers)}.sqlite'}")
        overrides.setdefault("socket", str(sockets / f"{len(servers)}.sock"))  # short: a unix path has <108 bytes
        settings = load_settings(
            path,
            listen=f"127.0.0.1:{port}",
            data_dir=str(tmp_path / "data"),
            **overrides,
        )
        runtime = Runtime(settings)
        app = create_app(runtime)
        http = serving.protocol(settings.header_timeout_s, settings.body_timeout_s, app.state.direct)  # as served
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", http=http)
        )
        thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive(), "the server thread died during start-up"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        live = LiveServer(f"http://127.0.0.1:{port}", runtime, server, thread)
        servers.append(live)
        return live

    yield start
    for live in servers:
        live.stop()
    shutil.rmtree(sockets, ignore_errors=True)


@pytest.fixture
def ci() -> bool:
    return os.environ.get("CI") == "true"


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    """Wait until a server process answers /health (failing at once if the process exits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc is not None and proc.poll() is not None:
            said = proc.stderr.read().decode(errors="replace")[-4000:] if proc.stderr else "(stderr not captured)"
            raise AssertionError(f"the server exited during start-up (exit code {proc.returncode}):\n{said}")
        assert time.monotonic() < deadline, f"{url} did not start"
        time.sleep(0.05)
