"""The store contract for service replicas: one live run per (task, replica), stopped with an end reason."""

from __future__ import annotations

from runyard.models import EndReason, RunStatus, TriggeredBy
from runyard.store.base import ClaimParams, Store
from tests.store.conftest import params


async def test_one_live_run_per_replica_and_stop_with_a_reason(store: Store) -> None:
    first = await store.enqueue(params("svc", triggered_by=TriggeredBy.SERVICE, replica_index=0))
    again = await store.enqueue(params("svc", triggered_by=TriggeredBy.SERVICE, replica_index=0))
    other = await store.enqueue(params("svc", triggered_by=TriggeredBy.SERVICE, replica_index=1))
    plain = await store.enqueue(params("svc"))  # an ordinary run of the same name is not a replica
    assert again.cached and again.run.id == first.run.id and not other.cached and not plain.cached
    assert other.run.replica_index == 1
    await store.claim_batch(ClaimParams(worker_id="w", limit=10, lease_s=30))
    stopped = await store.stop_replicas("svc", EndReason.DAEMON_STOPPED)
    assert sorted(stopped) == sorted([first.run.id, other.run.id])
    for run_id in stopped:
        run = await store.get_run(run_id)
        assert run is not None and (run.status, run.end_reason, run.exit_code) == (
            RunStatus.CANCELED, EndReason.DAEMON_STOPPED, -1,
        )  # fmt: skip
        assert [a.status.value for a in await store.list_attempts(run_id)] == ["canceled"]
    assert await store.stop_replicas(None, EndReason.DAEMON_STOPPED) == []
    restarted = await store.enqueue(params("svc", triggered_by=TriggeredBy.SERVICE, replica_index=0))
    assert not restarted.cached  # the replica's old run ended: a new one starts
