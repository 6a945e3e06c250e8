from __future__ import annotations

from pathlib import Path

import pytest

from runyard.durations import parse_duration
from runyard.retry import next_retry_delay
from runyard.settings import ConfigError, load_settings, validate_task_name


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runyard.toml"
    path.write_text(text)
    return path


def test_tasks_of_every_kind_load(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            """
[server]
listen = "127.0.0.1:9999"
lease = "10s"

[queues.email]
concurrency = 3

[tasks.backup]
run = "echo hi"
timeout = "1h"
retry = { attempts = 3, min = "1s", max = "5m" }

[tasks.send]
python = "app.tasks:send"
queue = { name = "email", concurrency = 10 }

[tasks.hook]
url = "http://127.0.0.1:1/hook"
""",
        )
    )
    assert settings.port == 9999 and settings.lease_s == 10
    assert settings.queues == {"email": 3}
    backup = settings.tasks["backup"]
    assert backup.kind == "shell" and backup.timeout == 3600 and backup.retry.max_attempts == 3
    assert backup.retry.max_delay == 300
    assert settings.tasks["send"].queue_name == "email" and settings.tasks["send"].concurrency_limit == 10
    assert settings.tasks["hook"].kind == "http"
    assert settings.tasks["backup"].queue_name == "task/backup"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[tasks.x]\n", "exactly one of"),
        ('[tasks.x]\nrun = "a"\npython = "b:c"\n', "exactly one of"),
        ('[tasks.x]\nrun = "a"\ncolour = 1\n', "unknown keys"),
        ('[tasks.x]\nrun = "a"\ntimeout = "soon"\n', "cannot parse duration"),
        ('[tasks.x]\nrun = "a"\nconcurrency = 5000\n', "0 to 1000"),
        ('[tasks."bad name"]\nrun = "a"\n', "may contain only"),
        ("[server\n", "runyard.toml"),
        ('[tasks.x]\nrun = "a"\nretry = 2\nretry_attempts = 2\n', "either `retry` or RunWisp"),
        ('[tasks.x]\nrun = "a"\nretry_attempts = -1\n', "x.retry_attempts: an integer from 0"),
        ('[tasks.x]\nrun = "a"\nretry_attempts = 1\nretry_backoff = "cubic"\n', "x.retry_backoff: one of"),
        ('[tasks.x]\nrun = "a"\nretry = { attempts = 2, new_run = "yes" }\n', "new_run: true or false"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text))


def test_runwisp_retry_keys_retry_as_new_runs(tmp_path: Path) -> None:
    text = '[tasks.x]\nrun = "a"\nretry_attempts = 3\nretry_delay = "2s"\nretry_backoff = "linear"\n'
    retry = load_settings(write(tmp_path, text)).tasks["x"].retry
    assert retry.max_attempts == 4 and retry.new_run and retry.linear and not retry.randomize
    assert [next_retry_delay(retry, n) for n in (1, 2, 3)] == [2.0, 4.0, 6.0]
    plain = load_settings(write(tmp_path, '[tasks.x]\nrun = "a"\nretry = 3\n')).tasks["x"].retry
    assert plain.max_attempts == 3 and not plain.new_run


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "value, seconds",
    [("1h42m", 6120), ("30s", 30), ("15m", 900), ("2w", 1209600), ("30d", 2592000), (5, 5), ("1.5", 1.5),
     ("500ms", 0.5)],
)  # fmt: skip
def test_durations(value: str | int, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "soon", "1x", "-5", -1, "1h-2m"])
def test_bad_durations(value: str | int) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_task_names() -> None:
    assert validate_task_name("a.b_c:d-1") is None
    assert validate_task_name("") and validate_task_name("a b") and validate_task_name("x" * 101)
