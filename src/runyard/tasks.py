"""The task registry and the `@runyard.task` decorator for Python tasks."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from runyard.durations import parse_duration
from runyard.models import RetryPolicy, TaskDef

F = TypeVar("F", bound=Callable[..., Any])
TASK_ATTR = "__runyard_task__"


def task(
    name: str | None = None,
    *,
    queue: str | None = None,
    concurrency: int | None = None,
    attempts: int = 1,
    timeout: str | float | None = None,
) -> Callable[[F], F]:
    """Mark a function (sync or async, taking the payload) as a runyard task.

    The server finds it through `python = "module:function"` in runyard.toml, or by importing the
    module named in `[server] imports`.
    """

    def mark(fn: F) -> F:
        setattr(
            fn,
            TASK_ATTR,
            TaskDef(
                name=name or fn.__name__,  # the function's own name, underscores and all
                kind="python",
                config={"target": f"{fn.__module__}:{fn.__qualname__}"},
                queue=queue,
                concurrency_limit=concurrency,
                retry=RetryPolicy(max_attempts=max(1, attempts)),
                timeout=parse_duration(timeout) if timeout is not None else None,
                description=(fn.__doc__ or "").strip().split("\n", 1)[0],
            ),
        )
        return fn

    return mark


def load_callable(target: str) -> Callable[..., Any]:
    """Import `module:function` (or `module:Class.method`)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"python task target {target!r} must look like 'package.module:function'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj  # type: ignore[no-any-return]


def tasks_in_module(module_name: str) -> list[TaskDef]:
    module = importlib.import_module(module_name)
    return [getattr(v, TASK_ATTR) for v in vars(module).values() if hasattr(v, TASK_ATTR)]


class TaskRegistry:
    """Tasks by name. Built from config at start; `add` lets tests and embedders register more."""

    def __init__(self, tasks: dict[str, TaskDef] | None = None) -> None:
        self._tasks: dict[str, TaskDef] = dict(tasks or {})

    def add(self, task_def: TaskDef) -> None:
        self._tasks[task_def.name] = task_def

    def get(self, name: str) -> TaskDef | None:
        return self._tasks.get(name)

    def __iter__(self) -> Iterator[TaskDef]:
        return iter(sorted(self._tasks.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tasks)

    def names(self) -> list[str]:
        return sorted(self._tasks)
