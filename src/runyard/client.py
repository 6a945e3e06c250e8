"""`runyard.Client`: a small synchronous client for the native /v1 API."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

FINAL = frozenset({"completed", "failed", "canceled", "crashed", "timed_out", "expired", "system_failure"})


class ApiError(Exception):
    """An error answer from the server: `status` and the problem's `detail`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def default_key(data_dir: str | None = None) -> str | None:
    """The key a client uses when given none: RUNYARD_API_KEY, else the server's `<data dir>/admin.key`
    (data dir: `data_dir`, RUNYARD_DATA_DIR, or `.runyard`)."""
    if key := os.environ.get("RUNYARD_API_KEY"):
        return key
    admin = Path(data_dir or os.environ.get("RUNYARD_DATA_DIR") or ".runyard") / "admin.key"
    try:
        return admin.read_text().strip() or None
    except OSError:
        return None


class Client:
    """`runyard.Client()` talks to RUNYARD_URL (default http://127.0.0.1:9477) with the key the CLI would use."""

    def __init__(
        self, base_url: str | None = None, api_key: str | None = None, timeout: float = 30.0,
        data_dir: str | None = None,
    ) -> None:  # fmt: skip
        base_url = base_url or os.environ.get("RUNYARD_URL") or "http://127.0.0.1:9477"
        key = api_key or default_key(data_dir)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.http.request(method, path, **kw)
        if resp.status_code >= 400:
            self._raise(resp)
        return resp.json() if resp.content else None

    @staticmethod
    def _raise(resp: httpx.Response) -> None:
        try:
            body = resp.json()
            detail = str(body.get("detail") or body.get("error") or resp.text)
        except ValueError:
            detail = resp.text
        raise ApiError(resp.status_code, detail)

    # -- tasks and triggers -------------------------------------------------------------------------
    def tasks(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/tasks")["tasks"]
        return result

    def trigger(
        self, task: str, payload: Any = None, *, request_key: str | None = None, **options: Any
    ) -> dict[str, Any]:
        """Trigger `task`; options: tags, metadata, queue, concurrency_key, idempotency_key, delay, ttl, ..."""
        headers = {"Idempotency-Key": request_key} if request_key else {}
        body = {"payload": payload, **{k: v for k, v in options.items() if v is not None}}
        result: dict[str, Any] = self._call("POST", f"/v1/tasks/{task}/trigger", json=body, headers=headers)
        return result

    # -- runs ---------------------------------------------------------------------------------------
    def get_run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/runs/{run_id}")
        return result

    def list_runs(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> dict[str, Any]:
        params = {"status": status, "task": task, "tag": tag, "limit": limit, "after": after}
        result: dict[str, Any] = self._call("GET", "/v1/runs", params={k: v for k, v in params.items() if v})
        return result

    def iter_runs(self, **filters: Any) -> Iterator[dict[str, Any]]:
        after = None
        while True:
            page = self.list_runs(after=after, **filters)
            yield from page["runs"]
            after = page["next_cursor"]
            if not after:
                return

    def cancel(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/runs/{run_id}/cancel")
        return result

    def replay(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/runs/{run_id}/replay")
        return result

    def logs(self, run_id: str, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/runs/{run_id}/logs", params={"after": after, "limit": limit})
        return result

    def _events(self, path: str, **params: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event, data) of a server-sent event stream; ("open", {}) once the stream is connected."""
        with self.http.stream("GET", path, params=params, timeout=httpx.Timeout(30.0, read=None)) as resp:
            if resp.status_code >= 400:
                resp.read()
                self._raise(resp)
            yield "open", {}
            event, data = "message", ""
            for line in resp.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif not line and data:
                    yield event, json.loads(data)
                    event, data = "message", ""

    def follow_logs(self, run_id: str, after: int = 0) -> Iterator[dict[str, Any]]:
        """Log lines as they are written (the server streams them), until the run has ended."""
        for event, data in self._events(f"/v1/runs/{run_id}/logs/stream", after=after):
            if event == "line":
                yield data
            elif event == "done":
                return

    def watch(self, run_id: str) -> Iterator[dict[str, Any]]:
        """The run now, then as each of its events arrives (the server's event stream), until it has ended."""
        for event, data in self._events("/v1/events/stream"):
            if event == "open":  # subscribed: nothing from here on is missed
                run = self.get_run(run_id)
            elif event.startswith("run.") and data["run"]["id"] == run_id:
                run = data["run"]
            else:
                continue
            yield run
            if run["status"] in FINAL:
                return

    def wait(self, run_id: str, timeout: float = 60.0, poll: float = 0.2) -> dict[str, Any]:
        """The run once it has ended; raises TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run["status"] in FINAL:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} is still {run['status']} after {timeout}s")
            time.sleep(poll)
