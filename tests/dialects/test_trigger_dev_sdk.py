"""The official `@trigger.dev/sdk` (npm, installed by the Makefile) driven against a live runyard."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import LiveServer

SDK_DIR = Path(__file__).parents[1] / "sdk"
CONFIG = """
[server]
poll_interval = "0.05s"

[tasks.add]
python = "tests.worker.tasks_for_tests:add"

[tasks.echo]
python = "tests.worker.tasks_for_tests:echo"

[tasks.boom]
python = "tests.worker.tasks_for_tests:boom"
retry = { attempts = 1, min = "0.05s", max = "0.1s" }

[tasks.nap]
run = "sleep 0.2"

[tasks.held]
noop = true
queue = { name = "held", concurrency = 0 }
"""


def test_official_sdk_suite(live_server: Callable[..., LiveServer]) -> None:
    node = shutil.which("node")
    if node is None or not (SDK_DIR / "node_modules" / "@trigger.dev" / "sdk").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("node and tests/sdk/node_modules are required in CI (make installs them)")
        pytest.skip("node or the SDK is not installed (run `make node-deps`)")
    srv = live_server(CONFIG)
    env = {**os.environ, "TRIGGER_API_URL": srv.url, "TRIGGER_SECRET_KEY": srv.api_key}
    result = subprocess.run(
        [node, "--test", "--test-concurrency=1", "sdk.test.mjs"],
        cwd=SDK_DIR, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "# fail 0" in result.stdout
