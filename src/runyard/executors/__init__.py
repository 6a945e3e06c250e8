"""Executors by task kind."""

from __future__ import annotations

from runyard.executors.base import Executor
from runyard.executors.evaluation import EvaluationExecutor
from runyard.executors.http import HttpExecutor
from runyard.executors.noop import NoopExecutor
from runyard.executors.python import PythonExecutor
from runyard.executors.shell import ShellExecutor
from runyard.models import TaskDef

EXECUTORS: dict[str, Executor] = {
    e.kind: e for e in (ShellExecutor(), PythonExecutor(), HttpExecutor(), NoopExecutor(), EvaluationExecutor())
}


def executor_for(task: TaskDef) -> Executor:
    try:
        return EXECUTORS[task.kind]
    except KeyError:
        raise ValueError(f"task {task.name!r} has an unknown kind {task.kind!r}") from None
