"""First use as a new user meets it: the client commands find the server and its key from the server's
configuration (`--config` or RUNYARD_CONFIG), and `runyard.Client` works as the README shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_healthy

pytestmark = pytest.mark.slow
RUNYARD = str(Path(sys.executable).parent / "runyard")


def test_client_commands_and_runyard_client_read_the_servers_config_and_admin_key(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "runyard.toml"
    config.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{tmp_path / "state"}"\n'
        f'database = "sqlite:///{tmp_path / "db.sqlite"}"\n\n[tasks.hello]\nnoop = true\n'
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    server = subprocess.Popen([RUNYARD, "server", "--config", str(config), "--processes", "0"], env=clean,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        assert (tmp_path / "state" / "admin.key").exists()  # the first start wrote the admin key there

        def run(*args: str, env: dict[str, str] = clean) -> subprocess.CompletedProcess[str]:
            return subprocess.run([RUNYARD, *args], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=60)

        listed = run("--config", str(config), "tasks")
        assert listed.returncode == 0 and "hello" in listed.stdout, listed.stderr
        via_env = run("trigger", "hello", env={**clean, "RUNYARD_CONFIG": str(config)})
        assert via_env.returncode == 0, via_env.stderr
        lost = run("keys", "list")  # in the wrong directory, without --config
        assert lost.returncode == 1 and "no runyard database" in lost.stderr
        keys = run("--config", str(config), "keys", "list")
        assert keys.returncode == 0 and "admin" in keys.stdout, keys.stderr
        assert not (elsewhere / ".runyard").exists()  # nothing created where the commands ran

        script = "import runyard; c = runyard.Client(); print(len(list(c.iter_runs())))"
        client_env = {**clean, "RUNYARD_URL": f"http://127.0.0.1:{port}", "RUNYARD_DATA_DIR": str(tmp_path / "state")}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=client_env,
                              cwd=elsewhere, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "1"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _serve(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([RUNYARD, "server", "--processes", "0", *args], env=env, cwd=cwd, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def test_startup_errors_are_one_clear_line(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    bad = subprocess.run([RUNYARD, "server", "--listen", "nope"], capture_output=True, text=True, env=clean,
                         cwd=tmp_path, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "error: listen: expected host:port like 127.0.0.1:9477, got 'nope'"
    port = free_port()
    first = _serve(["--listen", f"127.0.0.1:{port}"], clean, tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", first)
        second = subprocess.run([RUNYARD, "server", "--listen", f"127.0.0.1:{port}", "--database",
                                 f"sqlite:///{tmp_path / 'other.db'}"], capture_output=True, text=True, env=clean,
                                cwd=tmp_path, timeout=60)  # fmt: skip
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr and "serving on" not in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_a_second_server_on_the_same_data_directory_keeps_the_admin_key(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    servers = []
    try:
        for n in range(2):  # two databases, one data directory: the second adopts the first's admin.key
            port = free_port()
            proc = _serve(["--listen", f"127.0.0.1:{port}", "--database", f"sqlite:///{tmp_path / f'{n}.db'}"],
                          clean, tmp_path)  # fmt: skip
            servers.append((proc, port))
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            if n == 0:
                key = (tmp_path / ".runyard" / "admin.key").read_text().strip()
        assert (tmp_path / ".runyard" / "admin.key").read_text().strip() == key
        for _, port in servers:
            resp = httpx.get(f"http://127.0.0.1:{port}/v1/tasks", headers={"x-api-key": key})
            assert resp.status_code == 200
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)


def test_every_command_has_help_text() -> None:
    import click

    from runyard.cli import cli

    missing: list[str] = []

    def walk(cmd: click.Command, path: str) -> None:
        if not (cmd.help or "").strip():
            missing.append(path)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli, "runyard")
    assert missing == []
