from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from runyard.errors import BadRequest, NotFoundError
from runyard.events import EventBus
from runyard.ids import now_us
from runyard.models import RetryPolicy, RunStatus, TaskDef, TriggeredBy
from runyard.service import DEFAULT_IDEMPOTENCY_TTL_S, Service, TriggerRequest
from runyard.store.sqlite import SqliteStore
from runyard.tasks import TaskRegistry


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    store = SqliteStore(tmp_path / "s.db")
    await store.open()
    tasks = TaskRegistry(
        {
            "hello": TaskDef(name="hello", kind="noop", retry=RetryPolicy(max_attempts=3), timeout=9.0),
            "limited": TaskDef(name="limited", kind="noop", concurrency_limit=2),
        }
    )
    yield Service(store, tasks, EventBus())
    await store.close()


async def test_trigger_applies_the_task_defaults(service: Service) -> None:
    result = await service.trigger(TriggerRequest(task="hello", payload=b'{"x":1}'))
    run = result.run
    assert run.queue == "task/hello"
    assert run.max_attempts == 3 and run.max_duration_s == 9.0
    assert run.status is RunStatus.QUEUED and run.triggered_by is TriggeredBy.API


async def test_trigger_options_override_the_defaults(service: Service) -> None:
    run = (await service.trigger(TriggerRequest(task="hello", max_attempts=1, max_duration_s=2))).run
    assert run.max_attempts == 1 and run.max_duration_s == 2


async def test_idempotency_key_gets_the_default_ttl(service: Service) -> None:
    before = now_us()
    run = (await service.trigger(TriggerRequest(task="hello", idempotency_key="k"))).run
    assert run.idempotency_expires_at is not None
    assert run.idempotency_expires_at >= before + int(DEFAULT_IDEMPOTENCY_TTL_S * 1e6)


async def test_unknown_task_is_not_found_and_creates_nothing(service: Service) -> None:
    with pytest.raises(NotFoundError):
        await service.trigger(TriggerRequest(task="nope"))
    assert await service.store.count_by_status() == {}


async def test_bad_options_are_rejected(service: Service) -> None:
    with pytest.raises(BadRequest):
        await service.trigger(TriggerRequest(task="hello", max_attempts=0))
    with pytest.raises(BadRequest):
        await service.trigger(TriggerRequest(task="hello", priority=10**9))


async def test_trigger_wakes_workers_and_announces_the_run(service: Service) -> None:
    seen: list[tuple[str, str]] = []
    service.events.subscribe(lambda kind, run: seen.append((kind, run.id)))
    run = (await service.trigger(TriggerRequest(task="hello"))).run
    assert seen == [("created", run.id)]
    assert await service.events.work_available.wait(0)
    cached = await service.trigger(TriggerRequest(task="hello", request_key="r1"))
    again = await service.trigger(TriggerRequest(task="hello", request_key="r1"))
    assert again.cached and again.run.id == cached.run.id
    assert [k for k, _ in seen] == ["created", "created"]


async def test_cancel_publishes_once_and_ended_runs_stay(service: Service) -> None:
    canceled: list[str] = []
    service.events.on_cancel(canceled.append)
    run = (await service.trigger(TriggerRequest(task="hello"))).run
    assert (await service.cancel(run.id)).status is RunStatus.CANCELED
    assert (await service.cancel(run.id)).status is RunStatus.CANCELED
    assert canceled == [run.id]
    with pytest.raises(NotFoundError):
        await service.cancel("01ARZ3NDEKTSV4RRFFQ69G5FAV")


async def test_replay_copies_the_run_with_overrides(service: Service) -> None:
    old = (await service.trigger(TriggerRequest(task="hello", payload=b"[1]", tags=["a"]))).run
    new = (await service.replay(old.id, tags=["b"])).run
    assert new.id != old.id and new.payload == b"[1]" and new.tags == ["b"]
    assert new.replay_of == old.id and new.triggered_by is TriggeredBy.REPLAY


async def test_reschedule_only_delayed_runs(service: Service) -> None:
    delayed = (await service.trigger(TriggerRequest(task="hello", delay_until=now_us() + 10**9))).run
    later = now_us() + 2 * 10**9
    assert (await service.reschedule(delayed.id, later)).delayed_until == later
    queued = (await service.trigger(TriggerRequest(task="hello"))).run
    with pytest.raises(BadRequest):
        await service.reschedule(queued.id, later)


async def test_trigger_many_is_atomic(service: Service) -> None:
    with pytest.raises(NotFoundError):
        await service.trigger_many([TriggerRequest(task="hello"), TriggerRequest(task="nope")])
    assert await service.store.count_by_status() == {}
    results = await service.trigger_many([TriggerRequest(task="hello")] * 3, batch_id="B", indices=[5, 6, 7])
    got = await service.store.list_runs(__import__("runyard.store.base", fromlist=["x"]).ListRunsParams(batch_id="B"))
    assert {r.id for r in got.runs} == {r.run.id for r in results}


@pytest.mark.parametrize(
    "options",
    [
        {"ttl_s": 1e300},
        {"max_duration_s": 1e12},
        {"idempotency_ttl_s": -1.0},
        {"max_attempts": 10**6},
        {"delay_until": 2**62},
    ],
)
async def test_out_of_range_spans_are_bad_requests(service: Service, options: dict[str, object]) -> None:
    with pytest.raises(BadRequest):
        await service.trigger(TriggerRequest(task="hello", **options))  # type: ignore[arg-type]
    assert await service.store.count_by_status() == {}


async def test_a_waiting_run_says_why(service: Service) -> None:
    from runyard.store.base import ClaimParams

    delayed = (await service.trigger(TriggerRequest(task="hello", delay_until=now_us() + 10**9))).run
    assert (await service.why_waiting(delayed) or "").startswith("delayed until")
    await service.store.upsert_queue("held", 0)
    held = (await service.trigger(TriggerRequest(task="hello", queue="held"))).run
    assert "limit of 0" in (await service.why_waiting(held) or "")
    first = (await service.trigger(TriggerRequest(task="limited", concurrency_key="k"))).run
    await service.store.upsert_queue("task/limited", 1)
    await service.store.claim_batch(ClaimParams(worker_id="w", limit=10, lease_s=30, tasks=["limited"]))
    second = (await service.trigger(TriggerRequest(task="limited", concurrency_key="k"))).run
    other_key = (await service.trigger(TriggerRequest(task="limited", concurrency_key="j"))).run
    assert "concurrency key 'k') is at its concurrency limit of 1" in (await service.why_waiting(second) or "")
    assert await service.why_waiting(other_key) == "due: waiting for a free worker slot"
    assert await service.why_waiting(await service.get_run(first.id)) is None
