"""runyard: a self-hosted task-run server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runyard.tasks import task

__version__ = "0.1.0"

if TYPE_CHECKING:
    from runyard.client import Client
    from runyard.runcontext import RunContext


def context() -> RunContext:
    """The running task's run: id, attempt, task, tags, metadata, a logger, progress (see runyard.runcontext)."""
    from runyard.runcontext import context as current_context

    return current_context()


def __getattr__(name: str) -> type[Client]:
    """`runyard.Client` is imported on first use, so a task process does not load the HTTP client."""
    if name == "Client":
        from runyard.client import Client

        return Client
    raise AttributeError(f"module 'runyard' has no attribute {name!r}")


__all__ = ["Client", "context", "task"]
