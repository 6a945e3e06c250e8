"""Configuration: `runyard.toml` plus `RUNYARD_*` environment variables, validated into typed settings."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from runyard import cron
from runyard.durations import parse_duration
from runyard.evals.apps import Application
from runyard.models import CATCH_UP_ALL, OverlapPolicy, RetryPolicy, TaskDef
from runyard.params import ParamError, declare

DEFAULT_LISTEN = "127.0.0.1:9477"
TASK_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")


class ConfigError(ValueError):
    pass


class Settings(msgspec.Struct, kw_only=True):
    listen: str = DEFAULT_LISTEN
    database: str = "sqlite:///.runyard/runyard.db"
    data_dir: Path = Path(".runyard")
    max_body_bytes: int = 3 * 1024 * 1024
    embedded_worker: bool = True  # False: serve the API only (`--no-worker`)
    processes: int | None = None  # worker processes; None: one per core; 0: execute in the server process
    socket: str | None = None  # the hub's unix socket for local workers; None: <data_dir>/runyard.sock; "": none
    worker_concurrency: int = 16  # attempts at once, per worker process
    lease_s: float = 30.0
    poll_interval_s: float = 0.5
    header_timeout_s: float = 10.0  # a client must send a request's headers within this
    body_timeout_s: float = 30.0  # ... and then at least one piece of its body this often
    max_connections: int = 2000  # open connections at once; past it new ones get a 503
    log_cap_bytes: int = 10 * 1024 * 1024
    tasks: dict[str, TaskDef] = msgspec.field(default_factory=dict)
    pass_env: list[str] = msgspec.field(default_factory=list)  # server env vars tasks get (runyard.taskenv)
    imports: list[str] = msgspec.field(default_factory=list)  # modules whose @runyard.task functions are tasks
    queues: dict[str, int | None] = msgspec.field(default_factory=dict)
    applications: list[Application] = msgspec.field(default_factory=list)  # under test, for evaluations
    config_path: Path | None = None

    @property
    def worker_processes(self) -> int:
        return max(1, os.cpu_count() or 1) if self.processes is None else max(0, self.processes)

    @property
    def socket_path(self) -> Path | None:
        if self.socket == "":
            return None
        return Path(self.socket) if self.socket else Path(self.data_dir) / "runyard.sock"

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def validate_task_name(name: str) -> str | None:
    """Why `name` is not a valid task name, or None. 1..100 chars of [A-Za-z0-9._:-]."""
    if not name:
        return "task name is empty"
    if len(name) > 100:
        return "task name is longer than 100 characters"
    if not set(name) <= TASK_NAME_CHARS:
        return "task name may contain only letters, digits, '.', '_', ':' and '-'"
    return None


def _seconds(where: str, value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _retry(where: str, raw: Any) -> RetryPolicy:
    if raw is None:
        return RetryPolicy()
    if isinstance(raw, int) and not isinstance(raw, bool):
        return RetryPolicy(max_attempts=max(1, raw))
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}.retry: expected a table like {{ attempts = 3, min = '1s' }}")
    unknown = set(raw) - {"attempts", "factor", "min", "max", "randomize", "backoff", "new_run"}
    if unknown:
        raise ConfigError(f"{where}.retry: unknown keys {sorted(unknown)}")
    backoff = raw.get("backoff", "exponential")
    if backoff not in BACKOFFS:
        raise ConfigError(f"{where}.retry.backoff: one of {', '.join(BACKOFFS)}")
    new_run = raw.get("new_run", False)
    if not isinstance(new_run, bool):
        raise ConfigError(f"{where}.retry.new_run: true or false")
    return RetryPolicy(
        max_attempts=max(1, int(raw.get("attempts", 1))),
        factor=1.0 if backoff == "constant" else float(raw.get("factor", 2.0)),
        linear=backoff == "linear",
        min_delay=_seconds(f"{where}.retry.min", raw.get("min", 1)),
        max_delay=_seconds(f"{where}.retry.max", raw.get("max", 60)),
        randomize=bool(raw.get("randomize", True)),
        new_run=new_run,
    )


BACKOFFS = ("exponential", "constant", "linear")
RUNWISP_RETRY_KEYS = {"retry_attempts", "retry_delay", "retry_backoff"}
RUNWISP_MAX_RETRY_DELAY_S = 3600.0


def _runwisp_retry(where: str, raw: dict[str, Any]) -> RetryPolicy:
    """RunWisp's spelling: `retry_attempts` (retries after the first attempt, 0), `retry_delay` (5s) and
    `retry_backoff`; and RunWisp's model, each retry a new run (`retry_of_run_id`), without jitter."""
    if "retry" in raw:
        raise ConfigError(f"{where}: use either `retry` or RunWisp's `retry_attempts`/`retry_delay`/`retry_backoff`")
    attempts = raw.get("retry_attempts", 0)
    if not (isinstance(attempts, int) and not isinstance(attempts, bool) and 0 <= attempts <= 1000):
        raise ConfigError(f"{where}.retry_attempts: an integer from 0 to 1000")
    backoff = raw.get("retry_backoff", "constant")
    if backoff not in BACKOFFS:
        raise ConfigError(f"{where}.retry_backoff: one of {', '.join(BACKOFFS)}")
    delay = _seconds(f"{where}.retry_delay", raw.get("retry_delay", "5s"))
    return RetryPolicy(
        max_attempts=attempts + 1, factor=1.0 if backoff == "constant" else 2.0, linear=backoff == "linear",
        min_delay=delay, max_delay=max(delay, RUNWISP_MAX_RETRY_DELAY_S), randomize=False, new_run=True,
    )  # fmt: skip


_TASK_KEYS = {
    "run", "python", "url", "noop", "evaluation", "env", "cwd", "shell", "headers", "timeout", "graceful_stop",
    "queue", "concurrency", "retry", "description",
    "cron", "timezone", "on_overlap", "catch_up", "max_concurrent", "max_queued",
    "instances", "restart", "run_on_start", "manual_trigger", "params", *RUNWISP_RETRY_KEYS,
}  # fmt: skip
MAX_QUEUED = 10_000
MAX_INSTANCES = 100


def _service_keys(where: str, raw: dict[str, Any], service: bool) -> dict[str, Any]:
    """`instances` (a service's replicas), `restart = { min, max }` (its backoff) and `run_on_start`."""
    out: dict[str, Any] = {}
    if "instances" in raw or service:
        value = raw.get("instances", 1)
        if not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INSTANCES):
            raise ConfigError(f"{where}.instances: an integer from 1 to {MAX_INSTANCES}")
        if "cron" in raw:
            raise ConfigError(f"{where}.cron: a service runs all the time; it cannot have a cron schedule")
        out["instances"] = value
    if "restart" in raw:
        restart = raw["restart"]
        if not isinstance(restart, dict) or set(restart) - {"min", "max"}:
            raise ConfigError(f"{where}.restart: a table like {{ min = '1s', max = '1m' }}")
        out["restart_min_s"] = _seconds(f"{where}.restart.min", restart.get("min", 1))
        out["restart_max_s"] = _seconds(f"{where}.restart.max", restart.get("max", 60))
    if "manual_trigger" in raw:
        if not isinstance(raw["manual_trigger"], bool):
            raise ConfigError(f"{where}.manual_trigger: true or false")
        out["manual_trigger"] = raw["manual_trigger"]
    if "run_on_start" in raw:
        if not isinstance(raw["run_on_start"], bool):
            raise ConfigError(f"{where}.run_on_start: true or false")
        out["run_on_start"] = raw["run_on_start"]
    return out


def _schedule_keys(where: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The scheduling keys of a task (`cron`, `timezone`, `on_overlap`, `catch_up`, `max_queued`), checked."""
    out: dict[str, Any] = {}
    if "cron" in raw:
        if not isinstance(raw["cron"], str):
            raise ConfigError(f"{where}.cron: a string like '0 3 * * *', '@hourly' or '@every 1h30m'")
        try:
            cron.parse(raw["cron"])
        except ValueError as exc:
            raise ConfigError(f"{where}.cron: {exc}") from None
        out["cron"] = raw["cron"]
    if "timezone" in raw:
        try:
            cron.zone(str(raw["timezone"]))
        except ValueError as exc:
            raise ConfigError(f"{where}.timezone: {exc}") from None
        out["timezone"] = str(raw["timezone"])
    if "on_overlap" in raw:
        try:
            out["on_overlap"] = OverlapPolicy(raw["on_overlap"])
        except ValueError:
            raise ConfigError(
                f"{where}.on_overlap: unknown policy {raw['on_overlap']!r}: use 'queue', 'skip' or 'kill'"
            ) from None
    if "catch_up" in raw:
        value = raw["catch_up"]
        words = {"latest": 1, "skip": 0, "all": CATCH_UP_ALL}
        if isinstance(value, str) and value in words:
            out["catch_up"] = words[value]
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out["catch_up"] = value
        else:
            raise ConfigError(f"{where}.catch_up: 'latest', 'all', 'skip' or a number of missed ticks to run (>= 0)")
    if "max_queued" in raw:
        value = raw["max_queued"]
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_QUEUED):
            raise ConfigError(f"{where}.max_queued: an integer from 0 to {MAX_QUEUED}")
        out["max_queued"] = value
    return out


def _evaluation(where: str, raw: Any) -> dict[str, Any]:
    """`evaluation = { concurrency = 8, judge = { url, model, api_key_env } }`: items scored at once, and the
    OpenAI-compatible chat-completions endpoint LLM judges use (the key is read from the named variable)."""
    if raw is True:
        raw = {}
    if not isinstance(raw, dict) or set(raw) - {"concurrency", "judge"}:
        raise ConfigError(f"{where}: true, or a table of concurrency and judge")
    config: dict[str, Any] = {}
    concurrency = raw.get("concurrency", 8)
    if not (isinstance(concurrency, int) and 1 <= concurrency <= 256):
        raise ConfigError(f"{where}.concurrency: an integer from 1 to 256")
    config["concurrency"] = concurrency
    judge = raw.get("judge")
    if judge is not None:
        if not isinstance(judge, dict) or not isinstance(judge.get("url"), str) or set(judge) - _JUDGE_KEYS:
            raise ConfigError(f"{where}.judge: a table with url (and model, api_key_env, timeout)")
        config["judge"] = {"url": judge["url"], "model": str(judge.get("model", "gpt-4o-mini"))}
        if "api_key_env" in judge:
            config["judge"]["api_key"] = os.environ.get(str(judge["api_key_env"]))
        if "timeout" in judge:
            config["judge"]["timeout_s"] = _seconds(f"{where}.judge.timeout", judge["timeout"])
    return config


_JUDGE_KEYS = {"url", "model", "api_key_env", "timeout"}


def task_from_config(name: str, raw: dict[str, Any], section: str = "tasks") -> TaskDef:
    """A task from its `[tasks.<name>]` table, or a service from `[services.<name>]` (one replica by default)."""
    where = f"{section}.{name}"
    problem = validate_task_name(name)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    unknown = set(raw) - _TASK_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    kinds = [k for k in ("run", "python", "url", "noop", "evaluation") if k in raw]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: set exactly one of run (shell), python (module:function), url, noop, evaluation")
    kind = {"run": "shell", "python": "python", "url": "http", "noop": "noop", "evaluation": "evaluation"}[kinds[0]]
    config: dict[str, Any] = {}
    if kind == "shell":
        config = {"command": str(raw["run"]), "env": dict(raw.get("env", {})), "cwd": raw.get("cwd")}
        if "shell" in raw:
            config["shell"] = str(raw["shell"])
    elif kind == "python":
        config = {"target": str(raw["python"])}
    elif kind == "http":
        config = {"url": str(raw["url"]), "headers": dict(raw.get("headers", {}))}
    elif kind == "evaluation":
        config = _evaluation(f"{where}.evaluation", raw["evaluation"])
    queue = raw.get("queue")
    if "concurrency" in raw and "max_concurrent" in raw:
        raise ConfigError(f"{where}: set concurrency or max_concurrent (the same setting), not both")
    limit = raw.get("concurrency", raw.get("max_concurrent"))
    if isinstance(queue, dict):
        limit = queue.get("concurrency", limit)
        queue = queue.get("name")
    if limit is not None and not (isinstance(limit, int) and 0 <= limit <= 1000):
        raise ConfigError(f"{where}.concurrency: an integer from 0 to 1000")
    timeout = raw.get("timeout")
    params = []
    if "params" in raw:
        if section == "services":
            raise ConfigError(f"{where}.params: a service is not triggered, so it takes no params")
        try:
            params = declare(f"{where}.params", raw["params"], env=dict(raw.get("env", {})), scheduled="cron" in raw)
        except ParamError as exc:
            raise ConfigError(str(exc)) from None
    return TaskDef(
        name=name,
        kind=kind,
        config=config,
        queue=str(queue) if queue else None,
        concurrency_limit=limit,
        retry=_runwisp_retry(where, raw) if RUNWISP_RETRY_KEYS & raw.keys() else _retry(where, raw.get("retry")),
        timeout=_seconds(f"{where}.timeout", timeout) if timeout is not None else None,
        graceful_stop=_seconds(f"{where}.graceful_stop", raw.get("graceful_stop", 5)),
        description=str(raw.get("description", "")),
        params=params,
        **_schedule_keys(where, raw),
        **_service_keys(where, raw, service=section == "services"),
    )


def _dec_hook(type_: type, value: Any) -> Any:
    if type_ is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read `path` (or $RUNYARD_CONFIG, or ./runyard.toml when present), then apply env and overrides."""
    raw: dict[str, Any] = {}
    if path is None and os.environ.get("RUNYARD_CONFIG"):
        path = Path(os.environ["RUNYARD_CONFIG"])
    if path is None and Path("runyard.toml").exists():
        path = Path("runyard.toml")
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    server = dict(raw.get("server", {}))
    env_map = {
        "RUNYARD_LISTEN": "listen",
        "RUNYARD_DATABASE": "database",
        "RUNYARD_DATA_DIR": "data_dir",
    }
    for env, key in env_map.items():
        if os.environ.get(env):
            server[key] = os.environ[env]
    server.update({k: v for k, v in overrides.items() if v is not None})
    try:
        tasks = {name: task_from_config(name, spec) for name, spec in raw.get("tasks", {}).items()}
        for name, spec in raw.get("services", {}).items():
            if name in tasks:
                raise ConfigError(f"services.{name}: a task has this name too")
            tasks[name] = task_from_config(name, spec, section="services")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None
    queues: dict[str, int | None] = {}
    for qname, spec in raw.get("queues", {}).items():
        limit = spec.get("concurrency") if isinstance(spec, dict) else spec
        if limit is not None and not (isinstance(limit, int) and 0 <= limit <= 1000):
            raise ConfigError(f"queues.{qname}.concurrency: an integer from 0 to 1000")
        queues[qname] = limit
    for key in ("lease", "poll_interval", "header_timeout", "body_timeout"):
        if key in server:
            server[f"{key}_s"] = _seconds(f"server.{key}", server.pop(key))
    try:
        settings = msgspec.convert(
            {**server, "queues": queues, "config_path": str(path) if path else None},
            Settings,
            strict=False,
            dec_hook=_dec_hook,
        )
    except msgspec.ValidationError as exc:
        raise ConfigError(f"server: {exc}") from None
    host, _, port = settings.listen.rpartition(":")
    if not host or not (port.isascii() and port.isdigit() and 0 <= int(port) <= 65535):
        raise ConfigError(f"listen: expected host:port like 127.0.0.1:9477, got {settings.listen!r}")
    settings.tasks = tasks
    settings.applications = _applications(raw.get("applications", []))
    return settings


_APP_KEYS = {"id", "title", "webhook_url", "secret_env", "slug", "description", "context", "language"}


def _applications(raw: Any) -> list[Application]:
    """`[[applications]]`: id, title, webhook_url, and secret_env, the variable holding its signing secret."""
    if not isinstance(raw, list):
        raise ConfigError("applications: an array of tables ([[applications]])")
    apps: list[Application] = []
    for n, spec in enumerate(raw):
        where = f"applications[{n}]"
        if not isinstance(spec, dict) or set(spec) - _APP_KEYS:
            raise ConfigError(f"{where}: a table of {sorted(_APP_KEYS)}")
        for key in ("id", "title", "webhook_url"):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise ConfigError(f"{where}.{key}: a non-empty string")
        secret = os.environ.get(str(spec["secret_env"]), "") if "secret_env" in spec else ""
        if "secret_env" in spec and not secret:
            raise ConfigError(f"{where}.secret_env: the variable {spec['secret_env']} is not set")
        fields = {k: str(v) for k, v in spec.items() if k != "secret_env"}
        apps.append(Application(**fields, secret=secret))
    if len({a.id for a in apps}) != len(apps):
        raise ConfigError("applications: two applications have the same id")
    return apps
