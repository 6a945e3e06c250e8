from __future__ import annotations

from runyard.ids import now_us
from runyard.models import ApiKey, RunStatus
from runyard.store.base import BatchRecord, ListRunsParams, Store
from tests.store.conftest import params


async def test_list_runs_pages_newest_first_in_both_directions(store: Store) -> None:
    ids = [(await store.enqueue(params())).run.id for _ in range(7)]
    newest_first = list(reversed(ids))
    page1 = await store.list_runs(ListRunsParams(limit=3))
    assert [r.id for r in page1.runs] == newest_first[:3]
    assert page1.prev_cursor is None and page1.next_cursor == newest_first[2]
    page2 = await store.list_runs(ListRunsParams(limit=3, after=page1.next_cursor))
    assert [r.id for r in page2.runs] == newest_first[3:6]
    page3 = await store.list_runs(ListRunsParams(limit=3, after=page2.next_cursor))
    assert [r.id for r in page3.runs] == newest_first[6:]
    assert page3.next_cursor is None
    back = await store.list_runs(ListRunsParams(limit=3, before=page2.runs[0].id))
    assert [r.id for r in back.runs] == newest_first[:3]


async def test_list_runs_filters(store: Store) -> None:
    a = (await store.enqueue(params(task="a", tags=["red", "x"]))).run
    b = (await store.enqueue(params(task="b", tags=["blue"], delay_until=now_us() + 60_000_000))).run
    c = (await store.enqueue(params(task="a", queue="special"))).run

    async def ids(**kw: object) -> set[str]:
        return {r.id for r in (await store.list_runs(ListRunsParams(**kw))).runs}  # type: ignore[arg-type]

    assert await ids(tasks=["a"]) == {a.id, c.id}
    assert await ids(tags=["blue", "red"]) == {a.id, b.id}
    assert await ids(statuses=[RunStatus.DELAYED]) == {b.id}
    assert await ids(queues=["special"]) == {c.id}
    assert await ids(created_from=b.created_at) == {b.id, c.id}
    assert await ids(created_to=a.created_at) == {a.id}
    assert await store.count_by_status() == {RunStatus.QUEUED: 2, RunStatus.DELAYED: 1}


async def test_batches_round_trip_and_dedupe_by_key(store: Store) -> None:
    now = now_us()
    batch = BatchRecord(id="B1", run_count=2, status="PENDING", created_at=now, updated_at=now,
                        idempotency_key="bk", task_identifiers=["t"])  # fmt: skip
    created, cached = await store.create_batch(batch)
    assert not cached and created.id == "B1"
    again, cached = await store.create_batch(
        BatchRecord(id="B2", run_count=2, status="PENDING", created_at=now, updated_at=now, idempotency_key="bk")
    )
    assert cached and again.id == "B1"
    runs = await store.enqueue_many([params(batch_id="B1", batch_index=i) for i in range(2)])
    await store.update_batch("B1", status="COMPLETED", errors=[], sealed=True)
    got = await store.get_batch("B1")
    assert got is not None and got.sealed and got.status == "COMPLETED"
    assert got.run_ids == [r.run.id for r in runs]
    assert await store.get_batch("nope") is None


async def test_api_keys_are_found_by_hash_until_revoked(store: Store) -> None:
    key = ApiKey(id="K1", name="ci", prefix="ry_abcd", created_at=now_us())
    await store.create_api_key(key, "h1")
    found = await store.find_api_key("h1")
    assert found is not None and found.name == "ci"
    assert await store.find_api_key("h2") is None
    assert await store.revoke_api_key("K1")
    assert not await store.revoke_api_key("K1")
    assert await store.find_api_key("h1") is None
    [listed] = await store.list_api_keys()
    assert listed.revoked_at is not None


async def test_queues_are_listed(store: Store) -> None:
    await store.upsert_queue("b", 2)
    await store.upsert_queue("a", None)
    assert [(q.name, q.concurrency_limit) for q in await store.list_queues()] == [("a", None), ("b", 2)]
