"""RunWisp's SSE streams over a real socket: the run event feed (ids, names, resume) and a run's live log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from runyard.api import sse
from tests.conftest import LiveServer

CONFIG = """
[tasks.ok]
run = "echo fine"

[tasks.bad]
run = "exit 3"

[tasks.chatty]
run = "for i in 1 2 3; do echo line $i; sleep 0.3; done"
"""


def frames(resp: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse an SSE response into {id, event, data} frames (comments skipped)."""
    current: dict[str, Any] = {}
    for line in resp.iter_lines():
        if not line:
            if current:
                yield current
            current = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value


def client(srv: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {srv.api_key}"}, timeout=20)


def collect(srv: LiveServer, n: int, headers: dict[str, str] | None = None, **params: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with client(srv) as c, c.stream("GET", "/api/events/stream", headers=headers, params=params) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        for f in frames(resp):
            out.append(f)
            if len(out) == n:
                break
    return out


def later(fn: Callable[[], object], delay: float = 0.5) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), fn()), daemon=True)
    thread.start()
    return thread


def test_event_feed_names_ids_and_resume(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        trigger = later(lambda: c.post("/api/tasks/ok/run"))
        got = collect(srv, 3)
        trigger.join()
    assert [f["event"] for f in got] == ["run.created", "run.started", "run.completed"]
    ids = [int(f["id"]) for f in got]
    assert ids == sorted(ids) and len(set(ids)) == 3
    run = got[2]["data"]["run"]
    assert (run["task_name"], run["status"], run["end_reason"]) == ("ok", "ended", "success")

    # Resume after the first event: the two after it are replayed, by header or by query.
    assert [f["id"] for f in collect(srv, 2, headers={"Last-Event-ID": got[0]["id"]})] == [got[1]["id"], got[2]["id"]]
    assert [f["id"] for f in collect(srv, 2, lastEventId=got[0]["id"])] == [got[1]["id"], got[2]["id"]]
    lost = collect(srv, 1, lastEventId="1")  # an id from long ago: the feed says events were lost
    assert lost[0]["event"] == "system" and "no longer kept" in lost[0]["data"]["message"]

    with srv.client() as c:
        trigger = later(lambda: c.post("/api/tasks/bad/run"))
        failed = collect(srv, 3)
        trigger.join()
    assert [f["event"] for f in failed] == ["run.created", "run.started", "run.failed"]
    assert failed[2]["data"]["run"]["exit_code"] == 3

    with srv.client() as c:
        assert c.get("/api/events/stream", params={"lastEventId": "x"}).status_code == 422
    assert httpx.get(f"{srv.url}/api/events/stream").status_code == 401


def test_pings_carry_the_last_id(live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sse, "PING_S", 0.2)
    srv = live_server(CONFIG)
    pings = collect(srv, 2)
    assert [f["event"] for f in pings] == ["ping", "ping"] and pings[0]["id"] == pings[1]["id"]


def test_log_stream_sends_lines_while_the_run_executes_then_done(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with client(srv) as c:
        run_id = c.post("/api/tasks/chatty/run").json()["id"]
        seen: list[tuple[str, Any, float]] = []
        with c.stream("GET", f"/api/runs/{run_id}/log/stream") as resp:
            assert resp.status_code == 200
            for f in frames(resp):
                seen.append((f["event"], f["data"], time.monotonic()))
                if f["event"] == "done":
                    break
        assert [e for e, _, _ in seen] == ["line", "line", "line", "done"]
        assert [d["text"] for e, d, _ in seen if e == "line"] == ["line 1", "line 2", "line 3"]
        assert seen[-1][1] == {"finalLine": 3, "status": "ended"}
        assert seen[2][2] - seen[0][2] > 0.3, "the lines arrive as they are written, not at the end"
        again = [f["event"] for f in frames(c.get(f"/api/runs/{run_id}/log/stream"))]
        assert again == ["line", "line", "line", "done"]  # an ended run: its whole log, then done
        missing = c.get("/api/runs/01M8XP2Q6C2ESEZJGZJP1GCD4A/log/stream")
        assert missing.status_code == 404 and missing.json()["detail"] == "record not found"


def test_native_streams(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    got: list[dict[str, Any]] = []
    with client(srv) as c:
        trigger = later(lambda: c.post("/v1/tasks/chatty/trigger", json={}))
        with c.stream("GET", "/v1/events/stream") as resp:
            for f in frames(resp):
                got.append(f)
                if f["event"] == "run.started":
                    break
        trigger.join()
        assert [f["event"] for f in got] == ["run.created", "run.started"]
        run_id = got[0]["data"]["run"]["id"]
        lines = [f for f in frames(c.get(f"/v1/runs/{run_id}/logs/stream", params={"after": 1}))]
        assert [(f["event"], f["data"].get("text")) for f in lines] == [
            ("line", "line 2"), ("line", "line 3"), ("done", None),
        ]  # fmt: skip
        assert lines[-1]["data"] == {"last_seq": 3, "status": "completed"}
        assert c.get("/v1/runs/nope/logs/stream").status_code == 404
