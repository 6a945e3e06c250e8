"""`runyard.Client`: a small synchronous client for the native /v1 API."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx

FINAL = frozenset({"completed", "failed", "canceled", "crashed", "timed_out", "expired", "system_failure"})


class ApiError(Exception):
    """An error answer from the server: `status` and the problem's `detail`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class Client:
    def __init__(
        self, base_url: str = "http://127.0.0.1:9477", api_key: str | None = None, timeout: float = 30.0
    ) -> None:
        key = api_key or os.environ.get("RUNYARD_API_KEY")
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
            try:
                body = resp.json()
                detail = str(body.get("detail") or body.get("error") or resp.text)
            except ValueError:
                detail = resp.text
            raise ApiError(resp.status_code, detail)
        return resp.json() if resp.content else None

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

    def follow_logs(self, run_id: str, poll: float = 0.3) -> Iterator[dict[str, Any]]:
        """Log lines as they come, until the run has ended and every line was read."""
        after = 0
        while True:
            page = self.logs(run_id, after=after)
            yield from page["lines"]
            after = page["next_after"]
            if page["finished"]:
                return
            if not page["lines"]:
                time.sleep(poll)

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
