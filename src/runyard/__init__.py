"""runyard: a self-hosted task-run server."""

from runyard.tasks import task

__all__ = ["task"]
