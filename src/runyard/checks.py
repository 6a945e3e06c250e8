"""Problems a configuration has that would otherwise show only at a task's first run.

`task_problems` imports every Python task's target (through the executor's cache, so a worker that checked
at start never imports on a run) and looks at every shell task's `cwd` and `shell`. The server and
`runyard worker` refuse to start on a problem, a worker process logs them when it starts, and
`runyard check --config F` lists them all without serving.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import msgspec

from runyard.models import TaskDef


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    task: str
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"tasks.{self.task}.{self.key}" if self.task else self.key
        return f"{self.file}: {where}: {self.reason}" if where else f"{self.file}: {self.reason}"


def check_config(path: Path) -> tuple[list[Problem], list[TaskDef]]:
    """Every problem of the configuration at `path` (settings, imports, tasks), and its tasks."""
    from runyard.settings import ConfigError, load_settings
    from runyard.tasks import tasks_in_module

    file = str(path)
    if not path.is_file():
        return [Problem(file=file, task="", key="", reason="no such file")], []
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        return [Problem(file=file, task="", key="", reason=str(exc).removeprefix(f"{path}: "))], []
    tasks = dict(settings.tasks)
    problems: list[Problem] = []
    for module in settings.imports:
        try:
            found = tasks_in_module(module)
        except Exception as exc:
            problems.append(
                Problem(file=file, task="", key="server.imports", reason=f"cannot import {module!r}: {exc}")
            )
            continue
        for task in found:
            tasks.setdefault(task.name, task)
    problems += task_problems(tasks.values(), path)
    return problems, sorted(tasks.values(), key=lambda t: t.name)


def task_problems(tasks: Iterable[TaskDef], config_path: Path | str | None = None) -> list[Problem]:
    from runyard.executors.python import target_of

    file = str(config_path) if config_path else "(no config file)"
    found: list[Problem] = []
    for task in tasks:
        config = task.config
        if task.kind == "python":
            target = str(config.get("target", ""))
            try:
                target_of(target)
            except Exception as exc:
                reason = f"cannot import {target}: {type(exc).__name__}: {exc}"
                found.append(Problem(file=file, task=task.name, key="python", reason=reason))
        elif task.kind == "shell":
            cwd = config.get("cwd")
            if cwd is not None and not Path(str(cwd)).is_dir():
                reason = (
                    f"the directory {cwd} does not exist" if not Path(str(cwd)).exists() else f"{cwd} is no directory"
                )
                found.append(Problem(file=file, task=task.name, key="cwd", reason=reason))
            shell = str(config.get("shell") or "/bin/sh")
            if shutil.which(shell) is None:
                found.append(Problem(file=file, task=task.name, key="shell", reason=f"{shell} is not an executable"))
        elif task.kind == "http":
            url = str(config.get("url", ""))
            if not url.startswith(("http://", "https://")):
                found.append(Problem(file=file, task=task.name, key="url", reason=f"{url!r} is not an http(s) URL"))
    return found


def describe(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)
