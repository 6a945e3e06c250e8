"""Evaluation runs on the engine: items fan out under a concurrency limit on a real worker and SQLite
store, each item's result is recorded, the run's output counts them, and a cancel stops it midway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from runyard.events import EventBus
from runyard.ipc import encode
from runyard.models import EvalItemStatus, EvalResult, RunStatus, TaskDef
from runyard.service import Service, TriggerRequest
from runyard.settings import ConfigError, Settings, task_from_config
from runyard.store.sqlite import SqliteStore
from runyard.tasks import TaskRegistry
from runyard.worker import Worker
from runyard.worker_store import WORKER_OPS, EvalResultsArgs
from tests.worker import evaluators_for_tests as ev

E = "tests.worker.evaluators_for_tests"


def _task(name: str, evaluator: dict[str, Any], concurrency: int = 4) -> TaskDef:
    return TaskDef(name=name, kind="evaluation", config={"evaluator": evaluator, "concurrency": concurrency})


TASKS = [
    _task("exact", {"type": "exact", "case_sensitive": False}),
    _task("regex", {"type": "regex", "pattern": r"^\d{3}-\d{4}$"}),
    _task("list", {"type": "list", "values": ["yes", "no"]}),
    _task("code", {"type": "code", "target": f"{E}:long_enough"}),
    _task("picky", {"type": "code", "target": f"{E}:picky"}),
    _task("slow2", {"type": "code", "target": f"{E}:slow"}, concurrency=2),
    _task("slow1", {"type": "code", "target": f"{E}:slow"}, concurrency=1),
]


class H:
    def __init__(self, store: SqliteStore, service: Service) -> None:
        self.store, self.service = store, service

    async def run(self, task: str, items: list[dict[str, Any]], timeout: float = 20) -> Any:
        run = (await self.service.trigger(TriggerRequest(task=task, payload=json.dumps({"items": items}).encode()))).run
        return await self.service.wait(run.id, timeout)


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[H]:
    store = SqliteStore(tmp_path / "e.db")
    await store.open()
    service = Service(store, TaskRegistry({t.name: t for t in TASKS}), EventBus())
    worker = Worker(store, service.tasks, service.events, Settings(poll_interval_s=0.05, worker_concurrency=4))
    await worker.start()
    yield H(store, service)
    await worker.stop(grace=0.5)
    await store.close()


async def test_output_match_evaluators_score_and_count_each_item(h: H) -> None:
    exact = await h.run("exact", [{"id": "a", "output": "Paris", "expected": "paris"},
                                  {"id": "b", "output": "Lyon", "expected": "Paris"}, {"id": "c"}])  # fmt: skip
    assert exact.status is RunStatus.COMPLETED
    assert json.loads(exact.output) == {"total": 3, "success": 2, "error": 0, "skipped": 1, "passed": 1,
                                        "pass_rate": 0.5, "average_score": 0.5}  # fmt: skip
    results = await h.store.eval_results(exact.id)
    ok, skipped = EvalItemStatus.SUCCESS, EvalItemStatus.SKIPPED
    assert [(r.item_id, r.status, r.label) for r in results] == [
        ("a", ok, "pass"),
        ("b", ok, "fail"),
        ("c", skipped, None),
    ]
    assert exact.metadata == {"evaluation": json.loads(exact.output)}
    regex = await h.run("regex", [{"output": "555-1234"}, {"output": "5551234"}, {"output": "ünï\x00cödé"}])
    assert [r.score for r in await h.store.eval_results(regex.id)] == [1.0, 0.0, 0.0]
    listed = await h.run("list", [{"output": "yes"}, {"output": "maybe"}, {"output": ""}])
    assert json.loads(listed.output)["passed"] == 1


async def test_code_evaluators_give_scores_labels_and_per_item_errors(h: H) -> None:
    code = await h.run("code", [{"output": "abcd"}, {"output": "ab"}])
    [long, short] = await h.store.eval_results(code.id)
    assert (long.score, long.label, long.explanation) == (1.0, "long", "4") and short.score == 0.25
    assert json.loads(code.output)["average_score"] == 0.625
    picky = await h.run("picky", [{"output": "yes"}, {"output": "explode"}, {"output": "weird"}, {"output": "no"}])
    assert picky.status is RunStatus.COMPLETED
    counts = json.loads(picky.output)
    assert (counts["success"], counts["error"], counts["passed"]) == (2, 2, 1)
    errors = [r.error for r in await h.store.eval_results(picky.id) if r.status is EvalItemStatus.ERROR]
    assert errors[0] == "RuntimeError: cannot score this" and "not a score" in errors[1]


async def test_items_fan_out_up_to_the_concurrency_limit(h: H) -> None:
    ev.most_in_flight = 0
    run = await h.run("slow2", [{"output": "x", "sleep": 0.15} for _ in range(8)])
    assert json.loads(run.output)["success"] == 8
    assert ev.most_in_flight == 2  # never more than the limit, and the limit was used


async def test_a_cancel_stops_the_run_midway_and_skips_the_rest(h: H) -> None:
    items = [{"id": str(i), "output": "x", "sleep": 0.1} for i in range(40)]
    run = (await h.service.trigger(TriggerRequest(task="slow1", payload=json.dumps({"items": items}).encode()))).run
    for _ in range(200):
        if await h.store.eval_results(run.id):
            break
        await asyncio.sleep(0.05)
    await h.service.cancel(run.id)
    for _ in range(200):
        results = await h.store.eval_results(run.id)
        if len(results) == 40:
            break
        await asyncio.sleep(0.05)
    statuses = [r.status for r in results]
    assert len(statuses) == 40 and EvalItemStatus.SUCCESS in statuses and EvalItemStatus.SKIPPED in statuses
    assert statuses.count(EvalItemStatus.SUCCESS) < 40
    assert (await h.service.get_run(run.id)).status is RunStatus.CANCELED


async def test_a_payload_without_items_fails_without_retry(h: H) -> None:
    for payload in ({"rows": []}, {"items": "x"}, [1]):
        run = (await h.service.trigger(TriggerRequest(task="exact", payload=json.dumps(payload).encode()))).run
        ended = await h.service.wait(run.id, 10)
        assert ended.status is RunStatus.FAILED and ended.attempt_count == 1
        assert ended.error is not None and "items" in ended.error["message"]


async def test_worker_processes_record_results_through_the_server(h: H) -> None:
    [created] = await h.store.enqueue_many([h.service.enqueue_params(TriggerRequest(task="exact"))])
    args = EvalResultsArgs(created.run.id, [EvalResult(index=0, status=EvalItemStatus.ERROR, error="e")])
    await WORKER_OPS["record_eval_results"](h.store, encode(args))
    assert await h.store.eval_results(created.run.id) == args.results


@pytest.mark.parametrize(
    "table",
    [{"type": "nope"}, {"type": "regex", "pattern": "("}, {"type": "regex"}, {"type": "list", "values": []},
     {"type": "exact", "concurrency": 0}, {"type": "exact", "colour": 1}, {"type": "code", "target": "nocolon"},
     "exact"],
)  # fmt: skip
def test_bad_evaluation_settings_are_refused_at_load(table: Any) -> None:
    with pytest.raises(ConfigError):
        task_from_config("t", {"evaluation": table})


def test_evaluation_settings_load() -> None:
    task = task_from_config("t", {"evaluation": {"type": "regex", "pattern": "a+", "concurrency": 3}})
    assert task.kind == "evaluation"
    assert task.config == {"evaluator": {"type": "regex", "pattern": "a+"}, "concurrency": 3}
    assert msgspec.json.encode(task)  # stays serialisable for worker processes
