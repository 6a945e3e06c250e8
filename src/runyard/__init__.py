"""runyard: a self-hosted task-run server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runyard.tasks import task

if TYPE_CHECKING:
    from runyard.runcontext import RunContext


def context() -> RunContext:
    """The running task's run: id, attempt, task, tags, metadata, a logger, progress (see runyard.runcontext)."""
    from runyard.runcontext import context as current_context

    return current_context()


__all__ = ["context", "task"]
