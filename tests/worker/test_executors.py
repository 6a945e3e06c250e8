from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from runyard.executors import executor_for
from runyard.executors.base import ExecutionContext, Outcome
from runyard.models import RetryPolicy, Run, RunStatus, TaskDef
from runyard.retry import next_retry_delay


async def execute(
    task: TaskDef, payload: bytes = b"null", stop_after: float | None = None
) -> tuple[Outcome, list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []

    async def sink(stream: str, text: str) -> None:
        lines.append((stream, text))

    run = Run(id="01ARZ3NDEKTSV4RRFFQ69G5FAV", task=task.name, status=RunStatus.EXECUTING, queue="q", payload=payload)
    stop = asyncio.Event()
    if stop_after is not None:
        asyncio.get_running_loop().call_later(stop_after, stop.set)
    ctx = ExecutionContext(run=run, task=task, attempt_number=1, log=sink, stop=stop)
    return await executor_for(task).execute(ctx), lines


def shell(command: str, **kw: object) -> TaskDef:
    config = {"command": command, **kw.pop("config", {})}  # type: ignore[dict-item]
    return TaskDef(name="s", kind="shell", config=config, **kw)  # type: ignore[arg-type]


async def test_shell_missing_cwd_is_start_failed() -> None:
    outcome, lines = await execute(shell("true", config={"cwd": "/does/not/exist"}))
    assert outcome.kind == "start_failed" and not outcome.retryable
    assert lines and lines[0][0] == "system"


async def test_shell_command_not_found_is_start_failed() -> None:
    outcome, _ = await execute(shell("definitely-not-a-command-xyz"))
    assert outcome.kind == "start_failed" and outcome.exit_code == 127


async def test_shell_env_and_cwd(tmp_path: Path) -> None:
    outcome, lines = await execute(
        shell("echo $GREETING; pwd", config={"env": {"GREETING": "hey"}, "cwd": str(tmp_path)})
    )
    assert outcome.kind == "completed"
    assert [t for _, t in lines] == ["hey", str(tmp_path)]


async def test_shell_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "term"
    task = shell(f"trap 'echo term > {marker}' TERM; while true; do sleep 0.05; done", graceful_stop=0.3)
    started = time.monotonic()
    outcome, _ = await execute(task, stop_after=0.3)
    assert outcome.kind == "canceled" and outcome.exit_code == -1
    assert marker.read_text().strip() == "term"  # got SIGTERM first
    assert time.monotonic() - started < 5


async def test_shell_stop_lets_a_polite_process_exit(tmp_path: Path) -> None:
    outcome, _ = await execute(shell("sleep 30", graceful_stop=10), stop_after=0.2)
    assert outcome.kind == "canceled"


async def test_long_output_lines_survive() -> None:
    outcome, lines = await execute(shell("head -c 200000 /dev/zero | tr '\\0' a; echo; echo end"))
    assert outcome.kind == "completed"
    assert lines[-1] == ("stdout", "end")
    assert sum(len(t) for _, t in lines[:-1]) == 200000


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, object]]]]:
    received: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            received.append(body)
            status = 500 if body["payload"] == "fail" else 200
            reply = b"not json" if body["payload"] == "text" else json.dumps({"got": body["payload"]}).encode()
            self.send_response(status)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


async def test_webhook_posts_payload_and_returns_json_output(webhook: tuple[str, list[dict[str, object]]]) -> None:
    url, received = webhook
    task = TaskDef(name="w", kind="http", config={"url": url, "headers": {"x-token": "t"}})
    outcome, _ = await execute(task, b'{"a":1}')
    assert outcome.kind == "completed" and json.loads(outcome.output or b"") == {"got": {"a": 1}}
    assert received[0]["payload"] == {"a": 1} and received[0]["run"]["task"] == "w"  # type: ignore[index]
    text, _ = await execute(task, b'"text"')
    assert text.output == b'"not json"'
    failed, _ = await execute(task, b'"fail"')
    assert failed.kind == "failed" and failed.exit_code == 500 and failed.retryable


async def test_webhook_connection_refused_is_a_retryable_failure() -> None:
    task = TaskDef(name="w", kind="http", config={"url": "http://127.0.0.1:9/none"})
    outcome, _ = await execute(task)
    assert outcome.kind == "failed" and outcome.retryable


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, factor=2, min_delay=1, max_delay=60, randomize=False)
    assert [next_retry_delay(policy, n) for n in (1, 2, 3, 7, 8)] == [1, 2, 4, 60, 60]
    jittered = RetryPolicy(max_attempts=10, factor=2, min_delay=1, max_delay=60, randomize=True)
    for n in range(1, 9):
        assert 1 <= next_retry_delay(jittered, n) <= min(60, 2 ** (n - 1))


async def test_shell_tasks_get_an_allow_listed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from runyard.taskenv import base_env

    monkeypatch.setenv("RUNYARD_API_KEY", "secret")
    monkeypatch.setenv("EXTRA_ALLOWED", "yes")
    monkeypatch.setenv("LC_TESTING", "c")
    outcome, lines = await execute(shell("echo ${RUNYARD_API_KEY:-unset} ${EXTRA_ALLOWED:-unset} $LC_TESTING"))
    assert outcome.kind == "completed" and lines == [("stdout", "unset unset c")]
    allowed = base_env(["EXTRA_ALLOWED"])
    assert allowed["EXTRA_ALLOWED"] == "yes" and "RUNYARD_API_KEY" not in allowed and "PATH" in allowed


async def test_the_log_sink_runs_outside_the_runs_context() -> None:
    """What the sink (the worker, the store) logs is the server's: it must not be captured into the run."""
    from runyard import capture

    seen: list[tuple[str, object]] = []

    async def sink(stream: str, text: str) -> None:
        seen.append((text, capture.current.get()))

    task = TaskDef(name="p", kind="python", config={"target": "tests.worker.python_tasks:print_then_wait"})
    run = Run(id="01ARZ3NDEKTSV4RRFFQ69G5FAV", task="p", status=RunStatus.EXECUTING, queue="q")
    ctx = ExecutionContext(run=run, task=task, attempt_number=1, log=sink, stop=asyncio.Event())
    outcome = await executor_for(task).execute(ctx)
    assert outcome.kind == "completed"
    assert seen == [("before the wait", None), ("ERROR tests.wait: logged before the wait", None)]
