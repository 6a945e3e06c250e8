"""The shell executor: `<shell> -e -c "<command>"` in its own process group, output captured as log lines.

The environment is explicit (runyard.taskenv): an allow-list of the server's, the task's `env`, the run's ids.
Stopping (cancel, timeout, worker shutdown) sends SIGTERM to the whole group, waits the task's graceful_stop,
then SIGKILL.
A command that cannot start (missing shell or cwd) or is not found (exit 127) is `start_failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

import msgspec

from runyard import params
from runyard.executors.base import ExecutionContext, Executor, LogSink, Outcome
from runyard.reaper import escaped_processes
from runyard.taskenv import base_env

MAX_LINE = 64 * 1024
PIPE_GRACE_S = 2.0  # after SIGKILL: how long the output pipes may stay open before the executor stops reading
NOT_FOUND = 127


async def _pump(stream: asyncio.StreamReader | None, name: str, log: LogSink) -> None:
    if stream is None:
        return
    while True:
        try:
            line = await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as partial:
            if partial.partial:
                await log(name, partial.partial.decode(errors="replace"))
            return
        except asyncio.LimitOverrunError as over:
            line = await stream.readexactly(over.consumed)
        await log(name, line.rstrip(b"\r\n").decode(errors="replace"))


def _signal_group(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


class ShellExecutor(Executor):
    kind = "shell"

    async def execute(self, ctx: ExecutionContext) -> Outcome:
        config: dict[str, Any] = ctx.task.config
        shell = str(config.get("shell") or "/bin/sh")
        cwd = config.get("cwd")
        command, param_env = str(config["command"]), dict[str, str]()
        if ctx.task.params:  # the run's values (resolved when it was triggered), else the defaults
            try:
                given = msgspec.json.decode(ctx.run.payload)
                resolved = given.get("params") if isinstance(given, dict) else None
                if isinstance(resolved, dict):
                    values = {str(k): str(v) for k, v in resolved.items()}
                else:
                    values = params.resolve(ctx.task.params, None)
            except (msgspec.DecodeError, params.ParamError) as exc:
                message = f"invalid parameters: {exc}"
                await ctx.log("system", message)
                return Outcome(kind="start_failed", exit_code=-1, error={"message": message, "name": "StartFailed"},
                               retryable=False)  # fmt: skip
            param_env, args = params.shell_parts(ctx.task.params, values)
            command = f"{command} {args}" if args else command
        env = {
            **(base_env() if ctx.base_env is None else ctx.base_env),
            **{str(k): str(v) for k, v in (config.get("env") or {}).items()},
            "RUNYARD_PAYLOAD": ctx.run.payload.decode(errors="replace"),
            "RUNYARD_RUN_ID": ctx.run.id,
            "RUNYARD_TASK": ctx.task.name,
            "RUNYARD_ATTEMPT": str(ctx.attempt_number),
            "RUNYARD_WORKER_TOKEN": ctx.worker_token,
            **param_env,
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                shell, "-e", "-c", command,
                cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True, limit=MAX_LINE,
            )  # fmt: skip
        except OSError as exc:
            message = f"cannot start the command: {exc.strerror or exc} ({exc.filename or shell})"
            await ctx.log("system", message)
            return Outcome(kind="start_failed", exit_code=-1, error={"message": message, "name": "StartFailed"},
                           retryable=False)  # fmt: skip
        if ctx.reaper is not None:
            ctx.reaper.track(proc.pid, ctx.run.id)
        pumps = asyncio.gather(_pump(proc.stdout, "stdout", ctx.log), _pump(proc.stderr, "stderr", ctx.log))
        waiter = asyncio.ensure_future(proc.wait())
        stopper = asyncio.ensure_future(ctx.stop.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopped = not waiter.done()
            if stopped:
                await self._terminate(ctx, proc, waiter)
            await pumps
        finally:
            stopper.cancel()
            if proc.returncode is None:
                _signal_group(proc, signal.SIGKILL)
                await proc.wait()
            if ctx.reaper is not None:
                ctx.reaper.untrack(proc.pid)
        code = proc.returncode if proc.returncode is not None else -1
        if stopped:
            return Outcome(kind="canceled", exit_code=-1)
        if code == 0:
            return Outcome(kind="completed", output=b"null", exit_code=0)
        if code == NOT_FOUND:
            return Outcome(kind="start_failed", exit_code=code, retryable=False,
                           error={"message": "command not found (exit 127)", "name": "StartFailed"})  # fmt: skip
        return Outcome(kind="failed", exit_code=code, error={"message": f"exit code {code}", "name": "ExitCode"})

    async def _terminate(
        self, ctx: ExecutionContext, proc: asyncio.subprocess.Process, waiter: asyncio.Future[int]
    ) -> None:
        """SIGTERM to the group and to the run's descendants that left it, SIGKILL after the grace period. A
        process that left the group and cleared its environment can still hold the output pipes: once the
        group is dead, the executor stops reading them rather than wait for it."""
        _signal_group(proc, signal.SIGTERM)
        _signal_escaped(ctx, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiter), ctx.task.graceful_stop)
        _signal_group(proc, signal.SIGKILL)
        _signal_escaped(ctx, signal.SIGKILL)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), PIPE_GRACE_S)
        except TimeoutError:
            await ctx.log("system", "a process outside the run's process group still holds its output; not read")
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
            await waiter


def _signal_escaped(ctx: ExecutionContext, sig: signal.Signals) -> None:
    """Signal the run's processes outside its group (found by the run id and worker token in their environment)."""
    if not ctx.worker_token:
        return
    for pid in escaped_processes(ctx.worker_token, {ctx.run.id}):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
