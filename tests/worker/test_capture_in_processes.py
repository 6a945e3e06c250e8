"""Capture, the run context and stopping sync code work the same in the server's worker processes."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import LiveServer

CONFIG = """
[tasks.chatty]
python = "tests.worker.python_tasks:chatty"

[tasks.spin]
python = "tests.worker.python_tasks:spin"
"""


def test_a_worker_process_captures_output_stores_metadata_and_stops_a_sync_loop(
    live_server: Callable[..., LiveServer],
) -> None:
    srv = live_server(CONFIG, processes=1)
    with srv.client() as c:
        chatty = c.post("/v1/tasks/chatty/trigger", json={}).json()["run"]["id"]
        run = srv.wait_for(chatty, lambda r: r["status"] == "completed")
        assert run["metadata"] == {"progress": 0.5, "progressMessage": "half", "task": "chatty"}
        assert c.get(f"/api/v3/runs/{chatty}").json()["metadata"] == run["metadata"]  # Trigger.dev shows it too
        texts = [ln["text"] for ln in c.get(f"/v1/runs/{chatty}/logs").json()["lines"]]
        assert texts[0] == "out one" and "from a thread" in texts and "ERROR t: thread log" in texts
        spin = c.post("/v1/tasks/spin/trigger", json={}).json()["run"]["id"]
        srv.wait_for(spin, lambda r: r["status"] == "executing")
        c.post(f"/v1/runs/{spin}/cancel")
        run = srv.wait_for(spin, lambda r: r["status"] == "canceled")
        attempts = srv.wait_for(spin, lambda r: all(a.get("ended_at") for a in r["attempts"]))["attempts"]
        assert [a["status"] for a in attempts] == ["canceled"]  # released: the loop in the child has stopped
