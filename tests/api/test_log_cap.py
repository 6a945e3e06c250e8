"""The per-run log cap as the dialects render it: RunWisp's `truncated` and the native log page's."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import LiveServer

CONFIG = """
[server]
log_cap_bytes = 2000

[tasks.spew]
run = "i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"

[tasks.short]
run = "echo one line"
"""


def test_a_capped_log_says_truncated_in_runwisp_and_native(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server(CONFIG)
    with srv.client() as c:
        spew = c.post("/api/tasks/spew/run").json()["id"]
        short = c.post("/api/tasks/short/run").json()["id"]
        for run_id in (spew, short):
            srv.wait_for(run_id, lambda r: r["status"] == "completed")
        page = c.get(f"/api/runs/{spew}/log").json()
        assert page["truncated"] is True and page["finalized"] is True
        assert sum(len(ln["text"]) + 1 for ln in page["lines"] if ln["stream"] == "stdout") <= 2000
        assert page["lines"][-1]["stream"] == "system" and "log truncated" in page["lines"][-1]["text"]
        assert page["totalLines"] == len(page["lines"]) < 200
        native = c.get(f"/v1/runs/{spew}/logs").json()
        assert native["truncated"] is True and len(native["lines"]) == page["totalLines"]
        assert c.get(f"/api/runs/{short}/log").json()["truncated"] is False
        assert c.get(f"/v1/runs/{short}/logs").json()["truncated"] is False
