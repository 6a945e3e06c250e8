"""The no-op executor: completes at once with no output (benchmarks, tests, placeholders)."""

from __future__ import annotations

from runyard.executors.base import ExecutionContext, Executor, Outcome


class NoopExecutor(Executor):
    kind = "noop"

    async def execute(self, ctx: ExecutionContext) -> Outcome:
        return Outcome(kind="completed", output=b"null", exit_code=0)
