from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runyard.runtime import Runtime
from runyard.settings import ConfigError, Settings, load_settings
from tests.conftest import LiveServer


def test_imports_register_decorated_functions_and_config_wins(tmp_path: Path) -> None:
    path = tmp_path / "runyard.toml"
    path.write_text('[server]\nimports = ["tests.engine.decorated"]\n\n[tasks.shout]\nrun = "echo configured"\n')
    runtime = Runtime(load_settings(path, database=f"sqlite:///{tmp_path / 'x.db'}"))
    double = runtime.tasks.get("double")
    assert double is not None and double.kind == "python"
    assert double.retry.max_attempts == 2 and double.concurrency_limit == 3 and double.timeout == 5
    assert double.description == "Doubles a number."
    shout = runtime.tasks.get("shout")
    assert shout is not None and shout.kind == "shell"


def test_an_unknown_import_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot import"):
        Runtime(Settings(imports=["no.such.module"], database=f"sqlite:///{tmp_path / 'x.db'}"))


def test_decorated_tasks_run_end_to_end(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server('[server]\nimports = ["tests.engine.decorated"]\npoll_interval = "0.05s"\n')
    with srv.client() as c:
        run = c.post("/v1/tasks/double/trigger", json={"payload": 21}).json()["run"]
        assert srv.wait_for(run["id"], lambda r: r["status"] == "completed")["output"] == 42
        run = c.post("/v1/tasks/shout/trigger", json={"payload": "hey"}).json()["run"]
        assert srv.wait_for(run["id"], lambda r: r["status"] == "completed")["output"] == "HEY"


def test_a_decorated_function_keeps_its_name_and_the_other_spelling_is_pointed_at(
    live_server: Callable[..., LiveServer],
) -> None:
    srv = live_server('[server]\nimports = ["tests.engine.decorated"]\npoll_interval = "0.05s"\n')
    with srv.client() as c:
        run = c.post("/v1/tasks/send_email/trigger", json={"payload": "hi"}).json()["run"]
        assert srv.wait_for(run["id"], lambda r: r["status"] == "completed")["output"] == "sent hi"
        missing = c.post("/v1/tasks/send-email/trigger", json={"payload": "hi"})
        assert missing.status_code == 404
        assert "there is a task 'send_email'" in missing.json()["detail"]
