"""Trigger.dev public access tokens (`x-trigger-jwt`): signed with a key derived from the server's own
secret, never with an API key, and accepted where Trigger.dev accepts them: read access to that run or batch."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

import httpx

from tests.conftest import LiveServer


def _claims(token: str) -> dict[str, object]:
    body = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


def _signed_with(token: str, secret: bytes) -> bool:
    header, body, signature = token.split(".")
    digest = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == signature


def test_a_runs_public_token_reads_that_run_and_nothing_else(live_server: Callable[..., LiveServer]) -> None:
    srv = live_server('[tasks.held]\nnoop = true\nqueue = { name = "held", concurrency = 0 }\n')
    with srv.client() as c:
        first = c.post("/api/v1/tasks/held/trigger", json={"payload": {"n": 1}})
        other = c.post("/api/v1/tasks/held/trigger", json={"payload": {"n": 2}}).json()["id"]
    run_id, token = first.json()["id"], first.headers["x-trigger-jwt"]
    claims = _claims(token)
    assert claims["scopes"] == [f"read:runs:{run_id}"] and claims["pub"] is True
    assert int(str(claims["exp"])) - int(str(claims["iat"])) == 3600
    assert not _signed_with(token, srv.api_key.encode())  # not signed with the API key

    bearer = {"Authorization": f"Bearer {token}"}
    resp = httpx.get(f"{srv.url}/api/v3/runs/{run_id}", headers=bearer)
    assert resp.status_code == 200 and resp.json()["id"] == run_id
    for method, path in [
        ("GET", f"/api/v3/runs/{other}"),  # another run
        ("POST", f"/api/v2/runs/{run_id}/cancel"),  # a write to this run
        ("GET", "/api/v1/runs"),  # listing
        ("GET", "/v1/runs"),  # another dialect
        ("POST", "/api/v1/tasks/held/trigger"),
    ]:
        denied = httpx.request(method, srv.url + path, headers=bearer)
        assert denied.status_code == 401, (method, path, denied.status_code)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    denied = httpx.get(f"{srv.url}/api/v3/runs/{run_id}", headers={"Authorization": f"Bearer {forged}"})
    assert denied.status_code == 401 and "error" in denied.json()


def test_batch_tokens_read_their_batch_and_every_server_on_the_store_accepts_them(
    live_server: Callable[..., LiveServer],
) -> None:
    srv = live_server("[tasks.hello]\nnoop = true\n")
    with srv.client() as c:
        created = c.post("/api/v3/batches", json={"runCount": 1, "taskIdentifiers": ["hello"]})
    batch_id, token = created.json()["id"], created.headers["x-trigger-jwt"]
    assert _claims(token)["scopes"] == [f"read:batch:{batch_id}"]
    assert httpx.get(f"{srv.url}/api/v2/batches/{batch_id}", headers={"Authorization": f"Bearer {token}"}).is_success

    # A second server on the same database verifies the same token (the secret is in the store).
    second = live_server("[tasks.hello]\nnoop = true\n", database=srv.runtime.settings.database)
    resp = httpx.get(f"{second.url}/api/v2/batches/{batch_id}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
