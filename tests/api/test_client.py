"""runyard.Client against a live server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from runyard.client import ApiError, Client
from tests.conftest import LiveServer

CONFIG = """
[server]
poll_interval = "0.05s"

[tasks.add]
python = "tests.worker.tasks_for_tests:add"

[tasks.talk]
run = "for i in 1 2 3; do echo line $i; sleep 0.05; done"

[tasks.held]
noop = true
queue = { name = "held", concurrency = 0 }
"""


def test_client_round_trip(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with Client(srv.url, srv.api_key) as client:
        assert {t["name"] for t in client.tasks()} == {
            "add",
            "held",
            "talk",
            "evaluations",
        }  # evaluations: always there
        result = client.trigger("add", {"a": 1, "b": 2}, tags=["c"], request_key="req-1")
        assert client.trigger("add", {"a": 1, "b": 2}, request_key="req-1")["cached"] is True
        done = client.wait(result["run"]["id"], timeout=15)
        assert done["status"] == "completed" and done["output"] == 3
        talk = client.trigger("talk")["run"]
        assert [line["text"] for line in client.follow_logs(talk["id"])] == ["line 1", "line 2", "line 3"]
        watched = [r["status"] for r in client.watch(client.trigger("talk")["run"]["id"])]
        assert watched[0] in ("queued", "executing") and watched[-1] == "completed", watched
        with pytest.raises(ApiError) as gone:
            list(client.follow_logs("01ARZ3NDEKTSV4RRFFQ69G5FAV"))
        assert gone.value.status == 404
        held = [client.trigger("held", {"n": i})["run"]["id"] for i in range(5)]
        walked = [r["id"] for r in client.iter_runs(task="held", limit=2)]
        assert walked == held[::-1]
        assert client.cancel(held[0])["status"] == "canceled"
        assert client.replay(held[0])["run"]["replay_of"] == held[0]
        with pytest.raises(TimeoutError):
            client.wait(held[1], timeout=0.2, poll=0.05)
        with pytest.raises(ApiError) as missing:
            client.get_run("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        assert missing.value.status == 404
    with Client(srv.url, "ry_wrong") as wrong, pytest.raises(ApiError) as refused:
        wrong.tasks()
    assert refused.value.status == 401
