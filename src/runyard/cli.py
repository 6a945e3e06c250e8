"""The `runyard` command: server, worker, and a client for runs, logs, tasks and keys."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runyard.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from runyard.client import Client

F = TypeVar("F", bound=Callable[..., Any])


class _Consoles:
    """rich consoles, made on first use: the server process never imports rich (its memory matters)."""

    def __init__(self, stderr: bool) -> None:
        self.stderr = stderr
        self._console: Console | None = None

    def print(self, *args: Any, **kw: Any) -> None:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stderr)
        self._console.print(*args, **kw)

    def line(self, text: str) -> None:
        """A plain line, without rich: what the server and worker processes print (rich costs them 2 MB)."""
        click.echo(text, err=self.stderr)


out = _Consoles(stderr=False)
err = _Consoles(stderr=True)


def _table(*columns: str) -> Table:
    """A table whose ids and short values are never cut or wrapped; times and descriptions fold instead."""
    from rich.table import Table

    table = Table()
    for n, name in enumerate(columns):
        folds = name in FOLDING_COLUMNS
        table.add_column(name, no_wrap=not folds, min_width=26 if n == 0 else None, overflow="fold")
    return table


FOLDING_COLUMNS = frozenset({"created", "ended", "description"})


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}")
    sys.exit(code)


def _settings(config: str | None, **overrides: Any) -> Settings:
    try:
        return load_settings(Path(config) if config else None, **overrides)
    except ConfigError as exc:
        fail(str(exc), 2)
        raise  # unreachable


@contextlib.contextmanager
def _client(ctx: click.Context) -> Iterator[Client]:
    from runyard.client import ApiError, Client

    url: str = ctx.obj["url"]
    client = Client(url, ctx.obj["api_key"], data_dir=ctx.obj["data_dir"])
    try:
        yield client
    except ApiError as exc:
        if exc.status == 401:
            fail("the API key was refused (set --api-key or RUNYARD_API_KEY)")
        fail(exc.detail)
    except Exception as exc:  # httpx transport errors
        if type(exc).__name__ in ("ConnectError", "ConnectTimeout"):
            fail(f"cannot reach runyard at {url}: is `runyard server` running?")
        raise
    finally:
        client.close()


@click.group()
@click.option("--url", envvar="RUNYARD_URL", default=None, help="default: the config's listen, else 127.0.0.1:9477")
@click.option("--api-key", envvar="RUNYARD_API_KEY", default=None, help="else <data dir>/admin.key")
@click.option("--data-dir", envvar="RUNYARD_DATA_DIR", default=None, help="default: the config's, else .runyard")
@click.option(
    "--config",
    "client_config",
    envvar="RUNYARD_CONFIG",
    default=None,
    type=click.Path(dir_okay=False),
    help="the server's runyard.toml: its address and data directory, for the client commands",
)
@click.pass_context
def cli(
    ctx: click.Context, url: str | None, api_key: str | None, data_dir: str | None, client_config: str | None
) -> None:  # fmt: skip
    """runyard: durable task runs behind the APIs of Trigger.dev and RunWisp."""
    if client_config and (url is None or data_dir is None) and ctx.invoked_subcommand not in ("server", "worker"):
        settings = _settings(client_config)
        url = url or f"http://{settings.listen}"
        data_dir = data_dir or str(settings.data_dir)
    ctx.obj = {"url": url or "http://127.0.0.1:9477", "api_key": api_key, "data_dir": data_dir, "config": client_config}


# -- processes ------------------------------------------------------------------------------------------
@cli.command()
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="runyard.toml")
@click.option("--listen", default=None, help="HOST:PORT (default 127.0.0.1:9477)")
@click.option("--database", default=None, help="sqlite:///path.db")
@click.option("--no-worker", is_flag=True, help="serve the API only; run `runyard worker` elsewhere")
@click.option("--processes", type=int, default=None, help="worker processes (default: one per core; 0: in this one)")
@click.option("--access-log", is_flag=True)
@click.pass_context
def server(
    ctx: click.Context, config: str | None, listen: str | None, database: str | None, no_worker: bool,
    processes: int | None, access_log: bool,
) -> None:  # fmt: skip
    """Serve the API and the maintenance loop, and execute runs in worker processes (one per core)."""
    import uvicorn

    from runyard import serving
    from runyard.api.app import create_app
    from runyard.runtime import Runtime

    settings = _settings(config, listen=listen, database=database, data_dir=ctx.obj["data_dir"], processes=processes)
    sys.path.insert(0, os.getcwd())  # so `python = "examples.tasks:add"` resolves from where the server starts
    try:
        runtime = Runtime(settings, with_worker=not no_worker)
    except ConfigError as exc:
        fail(str(exc), 2)

    def started(rt: Runtime) -> None:
        if rt.new_admin_key:
            err.line(f"admin API key (shown once): {rt.new_admin_key}")
            err.line(f"written to {Path(settings.data_dir) / 'admin.key'} (mode 0600)")
        err.line(f"runyard serving on http://{settings.listen} with {len(rt.tasks)} tasks ({settings.database})")

    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover - platforms without uvloop
        loop = "asyncio"
    try:  # bind first: a port in use is one clear line, and "serving on" is printed once the socket is bound
        sock = socket.create_server((settings.host, settings.port), reuse_port=False, backlog=2048)
    except OSError as exc:
        fail(f"cannot listen on {settings.listen}: {exc.strerror or exc}", 2)
    app = create_app(runtime, on_started=started)
    uv_config = uvicorn.Config(
        app,
        loop=loop,
        http=serving.protocol(settings.header_timeout_s, settings.body_timeout_s, app.state.direct),
        ws="none",  # no websocket routes: uvicorn need not look for a websocket library
        limit_concurrency=settings.max_connections,
        access_log=access_log,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=int(settings.lease_s),
    )
    if runtime.pool is not None:  # forked now, before any thread, so that they share this process's pages
        runtime.pool.fork_now(close=[sock.fileno()])
    try:
        uvicorn.Server(uv_config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stopped gracefully on Ctrl-C, then passes the interrupt on
        err.line("runyard stopped")
        sys.exit(130)


@cli.command()
@click.option("--config", type=click.Path(dir_okay=False), default=None)
@click.option("--database", default=None)
@click.option("--concurrency", type=int, default=None, help="attempts at once per worker process")
@click.option("--processes", type=int, default=None, help="worker processes (default: one per core; 0: this one)")
@click.pass_context
def worker(
    ctx: click.Context, config: str | None, database: str | None, concurrency: int | None, processes: int | None
) -> None:
    """Execute runs: through the server's socket when a server runs on this machine, else on the database."""
    overrides: dict[str, Any] = {"database": database, "worker_concurrency": concurrency, "processes": processes}
    settings = _settings(config, data_dir=ctx.obj["data_dir"], **overrides)
    sys.path.insert(0, os.getcwd())
    path = settings.socket_path
    if path is not None and _answers(path):
        _worker_of_server(str(path), settings.worker_processes, concurrency)
    else:
        _worker_on_database(settings)


def _answers(path: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _until_signal() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _worker_of_server(path: str, processes: int, concurrency: int | None) -> None:
    """Worker processes that use the server's store through its socket (wake-ups and cancels included)."""
    from runyard.ipc import Channel, NoticeHandler
    from runyard.pool import WorkerPool
    from runyard.worker_process import serve_worker

    pool = WorkerPool(processes, connect=path, concurrency=concurrency) if processes > 0 else None
    if pool is not None:
        pool.fork_now(close=[])

    async def main() -> None:
        if processes == 0:

            async def open_channel(on_notice: NoticeHandler) -> Channel:
                return await Channel.connect(path, on_notice=on_notice)

            err.line(f"runyard worker connected to the server at {path}")
            await serve_worker(open_channel, concurrency=concurrency)
            return
        assert pool is not None
        stop = _until_signal()
        await pool.start()
        err.line(f"runyard worker: {processes} processes connected to the server at {path}")
        await stop.wait()
        err.line("stopping: letting running attempts finish")
        await pool.stop()

    asyncio.run(main())


def _worker_on_database(settings: Settings) -> None:
    """No server here: a store of our own; new runs are noticed through `PRAGMA data_version`."""
    from runyard.runtime import Runtime

    try:
        runtime = Runtime(settings, with_worker=True, listen=False, watch=True)
    except ConfigError as exc:
        fail(str(exc), 2)

    async def main() -> None:
        stop = _until_signal()
        await runtime.start()
        err.line(f"runyard worker running {len(runtime.tasks)} tasks against {settings.database}")
        await stop.wait()
        err.line("stopping: letting running attempts finish")
        await runtime.stop()

    asyncio.run(main())


@cli.command()
@click.option("--config", type=click.Path(dir_okay=False), default="runyard.toml", show_default=True)
def check(config: str) -> None:
    """Validate a configuration without serving: exit 0 with a summary, or 1 with each problem."""
    from collections import Counter

    from runyard.checks import check_config

    sys.path.insert(0, os.getcwd())  # as the server does, so python targets resolve the same way
    problems, tasks = check_config(Path(config))
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{config}: {len(problems)} problem(s)", err=True)
        sys.exit(1)
    kinds = Counter(t.kind for t in tasks)
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "no tasks"
    click.echo(f"{config}: ok, {len(tasks)} task(s) ({summary})")


# -- client commands -------------------------------------------------------------------------------------
def _payload(raw: str | None) -> Any:
    if raw is None:
        return None
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--payload is not valid JSON: {exc}", 2)


LOG_TAIL = 20  # lines of the log `trigger --wait` shows


@cli.command()
@click.argument("task")
@click.option("--payload", default=None, help="JSON, or @file.json")
@click.option("--tag", "tags", multiple=True)
@click.option("--delay", default=None, help="30s, 1h, or an ISO date-time")
@click.option("--idempotency-key", default=None)
@click.option("--wait", "wait", is_flag=True, help="wait until the run ends; exit 1 if it did not complete")
@click.pass_context
def trigger(
    ctx: click.Context, task: str, payload: str | None, tags: tuple[str, ...], delay: str | None,
    idempotency_key: str | None, wait: bool,
) -> None:  # fmt: skip
    """Trigger a run of TASK."""
    body = _payload(payload)
    with _client(ctx) as client:
        result = client.trigger(task, body, tags=list(tags), delay=delay, idempotency_key=idempotency_key)
        run = result["run"]
        out.print(f"{run['id']} {run['status']}{' (existing run)' if result['cached'] else ''}")
        if wait:
            run = client.wait(run["id"], timeout=24 * 3600)
            _print_run(run)
            lines = client.logs(run["id"], limit=5000)["lines"]
            if lines:
                out.print(f"[bold]log[/bold] (last {min(len(lines), LOG_TAIL)} of {len(lines)} lines):")
                for line in lines[-LOG_TAIL:]:
                    click.echo(f"  {line['text']}", err=line["stream"] == "stderr")
            if run["status"] != "completed":
                sys.exit(1)


@cli.group()
def runs() -> None:
    """List, show, cancel, replay and watch runs."""


@runs.command("list")
@click.option("--status", default=None, help="comma-separated engine statuses")
@click.option("--task", default=None)
@click.option("--tag", default=None)
@click.option("--limit", type=int, default=20, show_default=True)
@click.pass_context
def runs_list(ctx: click.Context, status: str | None, task: str | None, tag: str | None, limit: int) -> None:
    """List runs, newest first, with their full ids."""
    with _client(ctx) as client:
        page = client.list_runs(status=status, task=task, tag=tag, limit=limit)
    table = _table("id", "task", "status", "attempts", "created", "ended")
    for run in page["runs"]:
        table.add_row(run["id"], run["task"], run["status"], str(run["attempt_count"]), run["created_at"],
                      run.get("ended_at", ""))  # fmt: skip
    out.print(table)


def _print_run(run: dict[str, Any]) -> None:
    for key in ("id", "task", "status", "waiting", "end_reason", "exit_code", "queue", "attempt_count", "created_at",
                "started_at", "ended_at", "tags", "output", "error"):  # fmt: skip
        if key in run:
            out.print(f"[bold]{key}[/bold]: {json.dumps(run[key]) if key in ('output', 'error', 'tags') else run[key]}")


@runs.command("show")
@click.argument("run_id")
@click.pass_context
def runs_show(ctx: click.Context, run_id: str) -> None:
    """Show a run: status, attempts, output or error."""
    with _client(ctx) as client:
        run = client.get_run(run_id)
    _print_run(run)
    for attempt in run.get("attempts", []):
        out.print(f"  attempt {attempt['number']}: {attempt['status']} on {attempt['worker_id']}")


@runs.command("cancel")
@click.argument("run_id")
@click.pass_context
def runs_cancel(ctx: click.Context, run_id: str) -> None:
    """Cancel a run; an executing attempt is stopped."""
    with _client(ctx) as client:
        run = client.cancel(run_id)
    out.print(f"{run['id']} {run['status']}")


@runs.command("replay")
@click.argument("run_id")
@click.pass_context
def runs_replay(ctx: click.Context, run_id: str) -> None:
    """Trigger a new run with the payload and options of RUN_ID."""
    with _client(ctx) as client:
        run = client.replay(run_id)["run"]
    out.print(f"{run['id']} {run['status']} (replay of {run_id})")


@runs.command("watch")
@click.argument("run_id")
@click.pass_context
def runs_watch(ctx: click.Context, run_id: str) -> None:
    """Print a run's changes as they happen, until it ends."""
    with _client(ctx) as client:
        last = None
        for run in client.watch(run_id):  # the server's event stream, not polling
            if run["status"] != last:
                out.print(f"{run['id']} {run['status']}")
                last = run["status"]


@cli.command()
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True)
@click.pass_context
def logs(ctx: click.Context, run_id: str, follow: bool) -> None:
    """Print a run's log (--follow: until the run ends)."""
    with _client(ctx) as client:
        lines = client.follow_logs(run_id) if follow else iter(client.logs(run_id, limit=5000)["lines"])
        for line in lines:
            stream = "" if line["stream"] == "stdout" else f"[{line['stream']}] "
            click.echo(f"{stream}{line['text']}")


@cli.command()
@click.pass_context
def tasks(ctx: click.Context) -> None:
    """List the server's tasks."""
    with _client(ctx) as client:
        found = client.tasks()
    table = _table("name", "kind", "queue", "limit", "attempts", "description")
    for t in found:
        table.add_row(t["name"], t["kind"], t["queue"], str(t.get("concurrency_limit", "-")), str(t["max_attempts"]),
                      t.get("description", ""))  # fmt: skip
    out.print(table)


# -- keys (admin, straight on the store) ---------------------------------------------------------------
@cli.group()
@click.option("--config", type=click.Path(dir_okay=False), default=None)
@click.option("--database", default=None)
@click.pass_context
def keys(ctx: click.Context, config: str | None, database: str | None) -> None:
    """Create, list and revoke API keys (on the server's database)."""
    ctx.obj["settings"] = _settings(config or ctx.obj.get("config"), database=database)


def _on_store(ctx: click.Context, action: Callable[[Any], Any], *, must_exist: bool = True) -> Any:
    """Run `action` on the server's store; a SQLite file that does not exist yet is refused (a command run in
    the wrong directory must not leave an empty database behind) unless `must_exist` is False."""
    from runyard.runtime import open_store

    database: str = ctx.obj["settings"].database
    if must_exist and database.startswith("sqlite:///") and not Path(database.removeprefix("sqlite:///")).exists():
        fail(f"no runyard database at {database.removeprefix('sqlite:///')}: pass --config or --database")

    async def main() -> Any:
        store = open_store(ctx.obj["settings"].database)
        await store.open()
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(main())


@keys.command("create")
@click.argument("name")
@click.pass_context
def keys_create(ctx: click.Context, name: str) -> None:
    """Create a key called NAME; it is printed once."""
    from runyard.keys import create_key

    key, raw = _on_store(ctx, lambda store: create_key(store, name), must_exist=False)  # may seed a new server
    out.print(f"created key {key.id} ({name}); it is shown only now:")
    click.echo(raw)


@keys.command("list")
@click.pass_context
def keys_list(ctx: click.Context) -> None:
    """List keys (never their secret part)."""
    from runyard.ids import us_to_rfc3339

    found = _on_store(ctx, lambda store: store.list_api_keys())
    table = _table("id", "name", "prefix", "created", "revoked")
    for k in found:
        revoked = us_to_rfc3339(k.revoked_at) if k.revoked_at else ""
        table.add_row(k.id, k.name, k.prefix + "…", us_to_rfc3339(k.created_at), revoked)
    out.print(table)


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke the key KEY_ID; servers stop accepting it within seconds."""
    if not _on_store(ctx, lambda store: store.revoke_api_key(key_id)):
        fail(f"no active key with id {key_id}")
    out.print(f"revoked {key_id}")


def main() -> None:
    cli(prog_name="runyard")
