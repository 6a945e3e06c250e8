"""Wiring: settings -> store, task registry, service, hub, worker processes (or an embedded worker), maintainer.

`runyard server` executes runs in worker processes, one per core by default (`[server] processes`,
`--processes`; 0 executes in the server process itself). The server keeps the store: its hub
(`runyard.hub`) runs the workers' store operations, so SQLite has one writer and every worker process
shares its group commits, and it forwards wake-ups and cancels to them over their channels, so nothing
polls. The hub also listens on `<data_dir>/runyard.sock` for `runyard worker` processes on this machine.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from runyard.checks import describe, task_problems
from runyard.evals.service import SUITE_TASK
from runyard.events import EventBus
from runyard.hub import Hub
from runyard.keys import ensure_admin_key, ensure_key
from runyard.models import TaskDef
from runyard.pool import WorkerPool
from runyard.scheduler import Maintainer
from runyard.service import Service
from runyard.services import Supervisor
from runyard.settings import ConfigError, Settings
from runyard.store.base import Store
from runyard.tasks import TaskRegistry, tasks_in_module
from runyard.wakeup import DataVersionWatcher
from runyard.worker import Worker


def open_store(database: str) -> Store:
    """A store for a database URL: `sqlite:///path.db` (default) or `postgresql://...`."""
    if database.startswith("sqlite://"):
        from runyard.store.sqlite import SqliteStore

        path = database.removeprefix("sqlite://").removeprefix("/") if database != "sqlite://:memory:" else ""
        return SqliteStore(Path(path) if path else Path(":memory:"))
    if database.startswith(("postgres://", "postgresql://")):
        raise ValueError("the PostgreSQL store is not part of this build yet; use sqlite:///path.db")
    raise ValueError(f"unsupported database URL {database!r}: use sqlite:///path.db")


class Runtime:
    """Everything one runyard process runs. `start()` opens the store; `stop()` drains and closes.

    `listen`: accept `runyard worker` connections on the settings' socket (the server does; a worker
    with its own store does not). `watch`: wake the workers on `PRAGMA data_version` changes (a worker with
    its own store, which no server tells about new runs).
    """

    def __init__(
        self, settings: Settings, *, with_worker: bool | None = None, store: Store | None = None,
        listen: bool = True, watch: bool = False,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store or open_store(settings.database)
        self.tasks = TaskRegistry(settings.tasks)
        for module in settings.imports:
            try:
                found = tasks_in_module(module)
            except ImportError as exc:
                raise ConfigError(f"server.imports: cannot import {module!r}: {exc}") from None
            for task in found:
                if self.tasks.get(task.name) is None:  # runyard.toml wins over the decorator
                    self.tasks.add(task)
        if self.tasks.get(SUITE_TASK) is None:  # where the Avido and Arize dialects' evaluations run
            self.tasks.add(TaskDef(name=SUITE_TASK, kind="evaluation", description="evaluation runs of suites"))
        self.events = EventBus()
        self.service = Service(self.store, self.tasks, self.events)
        self.service.evaluations.applications = {app.id: app for app in settings.applications}
        run_worker = settings.embedded_worker if with_worker is None else with_worker
        if run_worker:  # a task that cannot run is reported now, not at its first run
            problems = task_problems(self.tasks, settings.config_path)
            if problems:
                raise ConfigError(describe(problems))
        processes = settings.worker_processes if run_worker else 0
        self.worker: Worker | None = None
        if run_worker and processes == 0:
            self.worker = Worker(self.store, self.tasks, self.events, settings)
        self.hub = Hub(self.store, self.tasks, self.events, settings)
        self.pool: WorkerPool | None = None
        if processes > 0:
            self.pool = WorkerPool(processes, hub=self.hub, stop_grace_s=settings.lease_s / 3)
        self.maintainer = Maintainer(self.store, self.events, settings, self.service)
        # Services and startup tasks belong to servers; `runyard worker` (listen=False) only executes.
        self.supervisor: Supervisor | None = Supervisor(self.service, self.events) if listen else None
        self._listen = listen
        self.watcher: DataVersionWatcher | None = None
        path = getattr(self.store, "path", None)
        if watch and isinstance(path, Path) and str(path) != ":memory:":
            self.watcher = DataVersionWatcher(path, self.events.work_available, settings.poll_interval_s)
        self.new_admin_key: str | None = None  # set on the first start, printed once by the server

    async def start(self) -> None:
        await self.store.open()
        seeded = os.environ.get("RUNYARD_API_KEY")
        if seeded:
            await ensure_key(self.store, seeded, "RUNYARD_API_KEY")
        self.new_admin_key = await ensure_admin_key(self.store, Path(self.settings.data_dir))
        for task in self.tasks:
            if task.concurrency_limit is not None:
                await self.store.upsert_queue(task.queue_name, task.concurrency_limit)
        for name, limit in self.settings.queues.items():
            await self.store.upsert_queue(name, limit)
        await self.service.schedules.sync_config()
        await self.maintainer.start()
        await self.hub.start(self.settings.socket_path if self._listen else None)
        if self.watcher is not None:
            await self.watcher.start()
        if self.pool is not None:
            await self.pool.start()
        if self.worker is not None:
            await self.worker.start()
        if self.supervisor is not None:
            await self.supervisor.start()

    async def stop(self) -> None:
        if self.supervisor is not None:  # replicas end as daemon_stopped; their workers stop the processes
            with contextlib.suppress(Exception):
                await self.supervisor.stop()
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await self.pool.stop()
        if self.worker is not None:
            with contextlib.suppress(Exception):
                await self.worker.stop()
        if self.watcher is not None:
            await self.watcher.stop()
        await self.hub.stop()
        await self.maintainer.stop()
        await self.store.close()
