"""`make bench-peers`: runyard against Huey and Dramatiq (Redis at 127.0.0.1:6379) and Procrastinate and PgQueuer
(PostgreSQL at 127.0.0.1:5432) on the same machine, in one
run, with the same no-op job and the same number of worker processes, every job checked to have run exactly once.

Scenarios (median of --reps runs each):
- backlog: N jobs enqueued with no worker running, then the workers start; jobs/s from the first enqueue to the
  last job done (enqueue + drain).
- drain: the same run, jobs/s from the moment the first job is done to the last.
- producer: workers running while N jobs are enqueued; jobs/s from the first enqueue to the last job done.
- latency: 300 jobs, one every 10 ms, to idle workers; enqueue -> start p50 / p99.

Writes bench/results/peers.md and bench/results/peers.png. Run with bench/peers/.venv/bin/python (the Makefile
makes it); runyard itself runs from the repository's .venv, as `make run` installs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
import procs  # noqa: E402
from loadgen import build_request, read_response, run_load  # noqa: E402

RUNYARD_BIN = ROOT / ".venv" / "bin"
PEERS_BIN = Path(sys.executable).parent
PROCESSES = 2
API_KEY = "ry_bench_peers_0123456789abcdefghij"
counts = redis.Redis(host="127.0.0.1", port=6379, db=14)


@dataclass
class Result:
    backlog: list[float] = field(default_factory=list)
    drain: list[float] = field(default_factory=list)
    producer: list[float] = field(default_factory=list)
    p50: float = 0.0
    p99: float = 0.0


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None, cwd: Path = HERE) -> Iterator[subprocess.Popen[bytes]]:
    env = {"PYTHONPATH": str(HERE), **(env or {})}  # the peers' job modules live here
    with procs.process(args, env, cwd, quiet=True, grace=20) as proc:
        yield proc


def wait_until(check: Callable[[], bool], timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("the jobs did not finish in time")
        time.sleep(0.005)
    return time.perf_counter()


def pct(values: list[float], p: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))] if data else 0.0


# -- the Redis peers ----------------------------------------------------------------------------------------
class RedisPeer:
    name = ""
    settings = ""

    def flush(self) -> None:
        raise NotImplementedError

    def send(self, i: int, sent: float) -> None:
        raise NotImplementedError

    def workers(self) -> list[str]:
        raise NotImplementedError

    def worker_commands(self) -> list[list[str]]:
        return [self.workers()]

    @contextmanager
    def running(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for command in self.worker_commands():
                stack.enter_context(process(command))
            yield

    def done(self) -> int:
        return int(counts.hlen("done"))

    def once(self, n: int) -> bool:
        values = counts.hvals("done")
        return len(values) == n and all(v == b"1" for v in values)

    def reset(self) -> None:
        counts.flushdb()
        self.flush()

    def measure(self, n: int) -> tuple[float, float, float]:
        self.reset()
        t0 = time.perf_counter()
        for i in range(n):
            self.send(i, 0.0)
        with self.running():
            first = wait_until(lambda: self.done() > 0)
            end = wait_until(lambda: self.done() >= n)
        assert self.once(n), f"{self.name}: not every job ran exactly once"
        backlog, drain = n / (end - t0), n / (end - first)
        self.reset()
        with self.running():
            time.sleep(2.0)  # started and idle
            t0 = time.perf_counter()
            for i in range(n):
                self.send(i, 0.0)
            end = wait_until(lambda: self.done() >= n)
            assert self.once(n), f"{self.name}: not every job ran exactly once"
        return backlog, drain, n / (end - t0)

    def latency(self, count: int) -> tuple[float, float]:
        self.reset()
        with self.running():
            time.sleep(2.0)
            for i in range(count):
                self.send(i, time.time())
                time.sleep(0.01)
            wait_until(lambda: self.done() >= count)
        lat = [float(v) * 1000 for v in counts.lrange("latency", 0, -1)]
        return pct(lat, 50), pct(lat, 99)


class Huey(RedisPeer):
    name = "Huey"

    def __init__(self) -> None:
        from huey_app import huey, noop

        self.huey, self.noop = huey, noop
        self.settings = (f"Huey {version('huey')}, RedisHuey (blocking BRPOP), consumer `-k process -w {PROCESSES}`, "
                         "default settings (a None result is not stored)")  # fmt: skip

    def flush(self) -> None:
        self.huey.storage.flush_all()

    def send(self, i: int, sent: float) -> None:
        self.noop(i, sent)

    def workers(self) -> list[str]:
        return [str(PEERS_BIN / "huey_consumer"), "huey_app.huey", "-k", "process", "-w", str(PROCESSES), "-q"]


class Dramatiq(RedisPeer):
    name = "Dramatiq"

    def __init__(self) -> None:
        from dramatiq_app import noop

        self.noop = noop
        self.settings = f"Dramatiq {version('dramatiq')}, RedisBroker, `--processes {PROCESSES} --threads 8`"

    def flush(self) -> None:
        redis.Redis(host="127.0.0.1", port=6379, db=13).flushdb()

    def send(self, i: int, sent: float) -> None:
        self.noop.send(i, sent)

    def workers(self) -> list[str]:
        return [str(PEERS_BIN / "dramatiq"), "dramatiq_app", "--processes", str(PROCESSES), "--threads", "8"]


class Procrastinate(RedisPeer):
    name = "Procrastinate"

    def __init__(self) -> None:
        from procrastinate_app import DSN, app, noop

        self.app, self.noop, self.dsn = app, noop, DSN
        self.settings = (f"Procrastinate {version('procrastinate')} (PostgreSQL, its own database), "
                         f"{PROCESSES} x `procrastinate worker --concurrency 16`, deferred one by one")  # fmt: skip
        self.opened = False

    def flush(self) -> None:
        import psycopg

        if self.opened:
            self.app.close()
        admin = self.dsn.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS bench_procrastinate WITH (FORCE)")
            conn.execute("CREATE DATABASE bench_procrastinate")
        self.app.open()
        self.opened = True
        self.app.schema_manager.apply_schema()

    def send(self, i: int, sent: float) -> None:
        self.noop.defer(i=i, sent=sent)

    def workers(self) -> list[str]:
        return [str(PEERS_BIN / "procrastinate"), "--app=procrastinate_app.app", "worker", "--concurrency", "16"]

    def worker_commands(self) -> list[list[str]]:
        return [self.workers() for _ in range(PROCESSES)]


class PgQueuerPeer(RedisPeer):
    name = "PgQueuer"

    def __init__(self) -> None:
        from pgqueuer_app import DSN

        self.dsn = DSN
        self.settings = (f"PgQueuer {version('pgqueuer')} (PostgreSQL via asyncpg, its own database), {PROCESSES} x "
                         "`pgqueuer.run(main, batch_size=10)` (what `pgq run` does, with its default batch; "
                         "LISTEN/NOTIFY wake-ups), an async entrypoint, enqueued one by one")  # fmt: skip
        self.loop = asyncio.new_event_loop()
        self.queries: object | None = None
        self.conn: object | None = None

    def _close(self) -> None:
        if self.conn is not None:
            self.loop.run_until_complete(self.conn.close())  # type: ignore[attr-defined]
            self.conn = self.queries = None

    def flush(self) -> None:
        import asyncpg
        import psycopg
        from pgqueuer import AsyncpgDriver, Queries

        self._close()
        admin = self.dsn.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS bench_pgqueuer WITH (FORCE)")
            conn.execute("CREATE DATABASE bench_pgqueuer")
        subprocess.run([str(PEERS_BIN / "pgq"), "install"], env={**os.environ, "PGDSN": self.dsn}, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        self.conn = self.loop.run_until_complete(asyncpg.connect(self.dsn))
        self.queries = Queries(AsyncpgDriver(self.conn))  # type: ignore[arg-type]

    def send(self, i: int, sent: float) -> None:
        assert self.queries is not None
        self.loop.run_until_complete(self.queries.enqueue("noop", f"{i},{sent}".encode()))  # type: ignore[attr-defined]

    def workers(self) -> list[str]:
        return [sys.executable, str(HERE / "pgqueuer_app.py")]

    def worker_commands(self) -> list[list[str]]:
        return [self.workers() for _ in range(PROCESSES)]

    @contextmanager
    def running(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for command in self.worker_commands():
                stack.enter_context(process(command, {"PGDSN": self.dsn}))
            yield


# -- runyard --------------------------------------------------------------------------------------------------
class Runyard:
    name = "runyard"
    settings = (f"runyard (this checkout), SQLite WAL; `runyard server` with {PROCESSES} worker processes (the README "
                "layout) for producer and latency; `runyard server --no-worker` + `runyard worker --processes "
                f"{PROCESSES}` for backlog and drain; triggers over HTTP (`POST /v1/tasks/noop/trigger`, 64 "
                "keep-alive connections); a sync `def` no-op task")  # fmt: skip

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.config = tmp / "runyard.toml"
        self.config.write_text('[tasks.noop]\npython = "bench.bench_tasks:nothing"\n')
        self.env = {"RUNYARD_API_KEY": API_KEY, "PYTHONPATH": str(ROOT)}
        self.n = 0

    @contextmanager
    def server(self, *extra: str) -> Iterator[tuple[int, Path]]:
        self.n += 1
        port = 39000 + self.n
        db = self.tmp / f"r{self.n}.db"
        env = {**self.env, "RUNYARD_DATA_DIR": str(self.tmp / f"data{self.n}")}
        args = [str(RUNYARD_BIN / "runyard"), "server", "--config", str(self.config), "--listen", f"127.0.0.1:{port}",
                "--database", f"sqlite:///{db}", "--processes", str(PROCESSES), *extra]  # fmt: skip
        with process(args, env, cwd=ROOT):
            wait_until(lambda: self._up(port), 30)
            yield port, db

    @staticmethod
    def _up(port: int) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return True
        except OSError:
            return False

    def trigger(self, port: int, n: int) -> None:
        body = b'{"payload": null}'
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        req = build_request("127.0.0.1", port, "POST", "/v1/tasks/noop/trigger", body, headers)
        result = asyncio.run(run_load("127.0.0.1", port, lambda _i: req, connections=64, total=n))
        assert result.errors == 0, f"{result.errors} triggers failed"

    @staticmethod
    def count(db: Path, sql: str) -> int:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()

    def done(self, db: Path) -> int:
        return self.count(db, "SELECT COUNT(*) FROM runs WHERE status = 'completed'")

    def once(self, db: Path, n: int) -> bool:
        return self.done(db) == n and self.count(db, "SELECT COUNT(*) FROM attempts") == n

    def measure(self, n: int) -> tuple[float, float, float]:
        with self.server("--no-worker") as (port, db):
            t0 = time.perf_counter()
            self.trigger(port, n)
            worker = [str(RUNYARD_BIN / "runyard"), "worker", "--config", str(self.config), "--database",
                      f"sqlite:///{db}", "--processes", str(PROCESSES)]  # fmt: skip
            with process(worker, {**self.env, "RUNYARD_DATA_DIR": str(self.tmp / f"data{self.n}")}, cwd=ROOT):
                first = wait_until(lambda: self.done(db) > 0)
                end = wait_until(lambda: self.done(db) >= n)
            assert self.once(db, n), "runyard: not every job ran exactly once"
        backlog, drain = n / (end - t0), n / (end - first)
        with self.server() as (port, db):
            time.sleep(2.0)
            t0 = time.perf_counter()
            self.trigger(port, n)
            end = wait_until(lambda: self.done(db) >= n)
            assert self.once(db, n), "runyard: not every job ran exactly once"
        return backlog, drain, n / (end - t0)

    def latency(self, count: int) -> tuple[float, float]:
        with self.server() as (port, db):
            time.sleep(2.0)
            body = b'{"payload": null}'
            headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
            req = build_request("127.0.0.1", port, "POST", "/v1/tasks/noop/trigger", body, headers)

            async def paced() -> None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                for _ in range(count):
                    writer.write(req)
                    await read_response(reader)
                    await asyncio.sleep(0.01)
                writer.close()

            asyncio.run(paced())
            wait_until(lambda: self.done(db) >= count)
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            lat = [(s - c) / 1000 for c, s in conn.execute("SELECT created_at, started_at FROM runs")]
            conn.close()
        return pct(lat, 50), pct(lat, 99)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1,000 jobs, one repetition")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.reps = 1000, 1
    results: dict[str, Result] = {}
    settings: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        systems = [Huey(), Dramatiq(), Procrastinate(), PgQueuerPeer(), Runyard(Path(tmpdir))]
        for system in systems:
            settings[system.name] = system.settings
            results[system.name] = Result()
        # The systems take turns, one repetition each per round, so that each one's median comes from the same
        # stretches of a machine whose speed drifts (by 2x within minutes on a shared virtual machine).
        for rep in range(args.reps):
            for system in systems:
                result = results[system.name]
                backlog, drain, producer = system.measure(args.jobs)
                result.backlog.append(backlog)
                result.drain.append(drain)
                result.producer.append(producer)
                print(f"{system.name} #{rep + 1}: backlog {backlog:,.0f}/s, drain {drain:,.0f}/s, "
                      f"producer {producer:,.0f}/s", flush=True)  # fmt: skip
        for system in systems:
            result = results[system.name]
            result.p50, result.p99 = system.latency(300)
            print(f"{system.name}: enqueue->start p50 {result.p50:.2f} ms, p99 {result.p99:.2f} ms", flush=True)
    write(results, settings, args.jobs, args.reps)


def write(results: dict[str, Result], settings: dict[str, str], jobs: int, reps: int) -> None:
    med = {name: {k: statistics.median(getattr(r, k)) for k in ("backlog", "drain", "producer")}
           for name, r in results.items()}  # fmt: skip
    ours = med["runyard"]
    peers = [name for name in results if name != "runyard"]
    header = "| | " + " | ".join(results) + " |\n|---|" + "---|" * len(results)
    rows = []
    for key, label in (("backlog", "end-to-end jobs/s with a backlog"), ("drain", "drain jobs/s"),
                       ("producer", "end-to-end jobs/s, concurrent producer")):  # fmt: skip
        rows.append(f"| {label} | " + " | ".join(f"{med[n][key]:,.0f}" for n in results) + " |")
    rows.append("| enqueue -> start p50 / p99 (ms) | "
                + " | ".join(f"{r.p50:.2f} / {r.p99:.2f}" for r in results.values()) + " |")  # fmt: skip
    ratios = []
    for peer in peers:
        parts = [f"{key} {ours[key] / med[peer][key]:.2f}x" for key in ("backlog", "drain", "producer")]
        ratios.append(f"- runyard / {peer}: " + ", ".join(parts))
    ours_raw, huey = results["runyard"], results["Huey"]
    rounds = "; ".join(
        f"{key} " + " / ".join(f"{a / b:.2f}x" for a, b in zip(getattr(ours_raw, key), getattr(huey, key), strict=True))
        for key in ("backlog", "drain", "producer")
    )
    wins = [
        f"{peer} ({key})" for peer in peers for key in ("backlog", "drain", "producer") if med[peer][key] > ours[key]
    ] + [
        f"{peer} (enqueue -> start {name})"
        for peer in peers
        for name in ("p50", "p99")
        if getattr(results[peer], name) < getattr(results["runyard"], name)
    ]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""# runyard and its peers, side by side

Run: {when} on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; `make bench-peers`
(bench/peers/run.py). Redis at 127.0.0.1:6379, PostgreSQL at 127.0.0.1:5432. {jobs:,} no-op jobs per scenario,
median of {reps} rounds (in each, every system in turn); {PROCESSES} worker processes for every system; every job
counted (each peer's job increments its id in a Redis hash; runyard's are its completed runs and their attempts)
and checked to have run exactly once.
The producer and the workers share the cores.

{header}
{chr(10).join(rows)}

Ratios (runyard / peer, higher is better for runyard):
{chr(10).join(ratios)}

Round by round (each round measures every system in turn), runyard / Huey: {rounds}.

Where a peer wins: {", ".join(wins) if wins else "nowhere in these scenarios"}.

Settings:
{chr(10).join(f"- {name}: {s}" for name, s in settings.items())}

The peers' jobs do one Redis round trip each to be counted; runyard's no-op does none (it is counted from its
database), so the peers carry a small extra cost per job. The producers differ too: Huey and Dramatiq enqueue
with one Redis command from the producing process, Procrastinate and PgQueuer with one PostgreSQL statement;
runyard's producer is an HTTP client whose every trigger is committed to SQLite before it is acknowledged.

The peers' producers enqueue one job at a time from one thread; runyard's load generator keeps 64 triggers in
flight (each one its own durable HTTP request).
"""
    out = ROOT / "bench" / "results"
    (out / "peers.md").write_text(text)
    latency = {n: [r.p50, r.p99] for n, r in results.items()}
    rounds_raw = {n: {k: getattr(r, k) for k in ("backlog", "drain", "producer")} for n, r in results.items()}
    (out / "peers.json").write_text(json.dumps({"median": med, "rounds": rounds_raw, "latency": latency}, indent=2))
    chart(med, out / "peers.png")
    print(text)


def chart(med: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ("backlog", "drain", "producer")
    names = list(med)
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(names)
    for n, name in enumerate(names):
        ax.bar([k + n * width for k in range(len(keys))], [med[name][key] for key in keys], width, label=name)
    ax.set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(keys))])
    ax.set_xticklabels(["with a backlog", "drain", "concurrent producer"])
    ax.set_ylabel("jobs/s (median)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
