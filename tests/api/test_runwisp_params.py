"""RunWisp task params: declared in runyard.toml, given in the trigger body, checked with RunWisp's 400
messages, handed to shell tasks as environment variables and quoted arguments, to Python tasks in the payload,
and shown on the run; bad declarations refused when the configuration loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runyard.settings import ConfigError, load_settings
from tests.conftest import LiveServer

CONFIG = """
[tasks.backup]
run = "echo project=$PROJECT_ID"
params = [
  { env = "PROJECT_ID", required = true },
  { arg = "source", required = true },
  { arg = "dest", default = "/backups" },
  { option = "--region", choices = ["us", "eu"] },
  { option = "--limit", type = "number", default = 100 },
  { flag = "--force" },
]

[tasks.pyparams]
python = "tests.worker.tasks_for_tests:echo"
params = [ { arg = "who", default = "world" } ]

[tasks.plain]
run = "true"
"""


def _log(c: Any, run_id: str) -> str:
    return "\n".join(line["text"] for line in c.get(f"/api/runs/{run_id}/log").json()["lines"])


def test_params_reach_shell_and_python_tasks(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        given = {"PROJECT_ID": "p1", "source": "data; echo INJECTED", "--region": "eu", "--force": True}
        resp = c.post("/api/tasks/backup/run", json={"params": given}, params={"wait": "true"})
        assert resp.status_code == 201, resp.text
        run = resp.json()
        assert run["end_reason"] == "success", run
        assert run["params"] == {"PROJECT_ID": "p1", "source": "data; echo INJECTED", "dest": "/backups",
                                 "--region": "eu", "--limit": "100", "--force": "true"}  # fmt: skip
        assert _log(c, run["id"]) == "project=p1 data; echo INJECTED /backups --region eu --limit 100 --force"
        some = {"PROJECT_ID": "p2", "source": "s", "dest": None, "--limit": 5}  # null: leave dest out
        nulled = c.post("/api/tasks/backup/run", params={"wait": "true"}, json={"params": some}).json()
        assert _log(c, nulled["id"]) == "project=p2 s --limit 5" and "dest" not in nulled["params"]
        py = c.post("/api/tasks/pyparams/run", params={"wait": "true"}).json()
        assert py["params"] == {"who": "world"}
        assert c.get(f"/v1/runs/{py['id']}").json()["output"] == {"echo": {"params": {"who": "world"}}}
        plain = c.post("/api/tasks/plain/run", params={"wait": "true"}).json()
        assert "params" not in plain


@pytest.mark.parametrize(
    ("task", "params", "detail"),
    [
        ("backup", {"source": "s"}, 'invalid parameters: missing required parameter "PROJECT_ID"'),
        ("backup", {"PROJECT_ID": "p", "source": "s", "x": "1"}, 'invalid parameters: unknown parameter "x"'),
        ("backup", {"PROJECT_ID": "p", "source": "s", "--region": "mars"}, "must be one of us, eu"),
        ("backup", {"PROJECT_ID": "p", "source": "s", "--limit": "many"}, "must be a number"),
        ("backup", {"PROJECT_ID": "p", "source": "s", "--force": "maybe"}, "is not a boolean"),
        ("plain", {"x": "1"}, 'invalid parameters: unknown parameter "x"'),
        ("backup", {"PROJECT_ID": "p\x00", "source": "s"}, "no NUL"),
        ("backup", {"PROJECT_ID": "p", "source": "s" * 70_000}, "at most 65536 characters"),
        ("backup", {"PROJECT_ID": "p", "source": "s", "--limit": "inf"}, "must be a number"),
    ],
)
def test_bad_params_are_refused_with_nothing_created(
    live_server: Callable[..., LiveServer], task: str, params: dict[str, Any], detail: str
) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        resp = c.post(f"/api/tasks/{task}/run", json={"params": params})
        assert resp.status_code == 400 and detail in resp.json()["detail"], resp.text
        assert c.get("/api/runs").json()["total"] == 0
        assert c.post("/api/tasks/nope/run", json={"params": {"x": "1"}}).status_code == 404
        huge = b'{"params": {"PROJECT_ID": "p", "source": "s", "--limit": 1e400}}'  # JSON's infinity
        resp = c.post("/api/tasks/backup/run", content=huge, headers={"content-type": "application/json"})
        assert resp.status_code == 400  # refused as JSON already


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[services.web]\nrun = "x"\nparams = [ { env = "PORT" } ]', "takes no params"),
        ('[tasks.t]\nrun = "x"\nenv = { A = "1" }\nparams = [ { env = "A" } ]', "also in the task's env"),
        ('[tasks.t]\nrun = "x"\ncron = "@hourly"\nparams = [ { arg = "a", required = true } ]', "runs on a schedule"),
        ('[tasks.t]\nrun = "x"\nparams = [ { option = "region" } ]', "must start with '-'"),
        ('[tasks.t]\nrun = "x"\nparams = [ { arg = "a" }, { arg = "a" } ]', "declared twice"),
        ('[tasks.t]\nrun = "x"\nparams = [ { env = "A", arg = "b" } ]', "exactly one of"),
        ('[tasks.t]\nrun = "x"\nparams = [ { flag = "--f", required = true } ]', "a flag is a boolean"),
        ('[tasks.t]\nrun = "x"\nparams = [ { option = "--n", type = "number", choices = ["1", "two"] } ]', "'two'"),
    ],
)
def test_bad_declarations_name_the_task_and_key(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "runyard.toml"
    path.write_text(table + "\n")
    with pytest.raises(ConfigError, match="params") as err:
        load_settings(path)
    assert message in str(err.value)
