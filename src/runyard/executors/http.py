"""The webhook executor: POST {run, payload, context} to a URL; a 2xx JSON response is the run's output."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from runyard.executors.base import ExecutionContext, Executor, Outcome

if TYPE_CHECKING:
    import httpx

_client: httpx.AsyncClient | None = None


def client() -> httpx.AsyncClient:
    """One shared connection pool, created on first use (httpx is imported only by servers that need it)."""
    global _client
    if _client is None or _client.is_closed:
        import httpx

        _client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=10.0))
    return _client


class HttpExecutor(Executor):
    kind = "http"

    async def execute(self, ctx: ExecutionContext) -> Outcome:
        config: dict[str, Any] = ctx.task.config
        body = b"".join(
            [
                b'{"run":',
                msgspec.json.encode({"id": ctx.run.id, "task": ctx.task.name, "attempt": ctx.attempt_number}),
                b',"payload":',
                ctx.run.payload,
                b',"context":',
                ctx.run.context or b"null",
                b"}",
            ]
        )
        headers = {"content-type": "application/json", **{str(k): str(v) for k, v in config.get("headers", {}).items()}}
        request = asyncio.ensure_future(client().post(str(config["url"]), content=body, headers=headers))
        stop = asyncio.ensure_future(ctx.stop.wait())
        try:
            await asyncio.wait({request, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not request.done():
            request.cancel()
            return Outcome(kind="canceled", exit_code=-1)
        exc = request.exception()
        if exc is not None:
            return Outcome(
                kind="failed", error={"message": f"webhook request failed: {exc}", "name": type(exc).__name__}
            )
        response = request.result()
        await ctx.log("system", f"POST {config['url']} -> {response.status_code}")
        if not response.is_success:
            excerpt = response.text[:500]
            return Outcome(
                kind="failed",
                exit_code=response.status_code,
                error={"message": f"webhook answered {response.status_code}: {excerpt}", "name": "WebhookError"},
                retryable=response.status_code >= 500 or response.status_code in (408, 429),
            )
        try:
            output = msgspec.json.encode(msgspec.json.decode(response.content)) if response.content else b"null"
        except msgspec.DecodeError:
            output = msgspec.json.encode(response.text)
        return Outcome(kind="completed", output=output, exit_code=0)
