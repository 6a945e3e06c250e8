"""Every route of every dialect, with {no key, wrong key, revoked key, valid key}: the first three are refused
with 401 in that dialect's error shape, the last is let through (and never a 5xx). New routes are covered
as they are registered, because the routes come from the dialect registry."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from runyard.api.dialects import DIALECTS, dialect_for
from tests.conftest import LiveServer

APP = "app_1"
CONFIG = (
    "[tasks.hello]\nnoop = true\n\n"
    f'[[applications]]\nid = "{APP}"\ntitle = "Bot"\nwebhook_url = "http://127.0.0.1:9/hook"\n'
)
SHAPE = {"native": "problem", "runwisp": "problem", "trigger.dev": "error", "avido": "message", "arize": "problem"}


def _fill(path: str) -> str:
    return re.sub(r"\{([^}:]+)(?::path)?\}", lambda m: "hello" if "name" in m.group(1).lower() else "x1", path)


def _keys(args: list[str], database: str) -> str:
    cli = str(Path(sys.executable).parent / "runyard")
    done = subprocess.run([cli, "keys", "--database", database, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def srv(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(CONFIG)


def test_every_route_refuses_missing_wrong_and_revoked_keys_in_its_dialects_shape(srv: LiveServer) -> None:
    assert {d.name for d in DIALECTS} == set(SHAPE), "a new dialect: say which error shape it answers in"
    database = srv.runtime.settings.database
    created = _keys(["create", "revoked-in-test"], database)
    revoked_raw, revoked_id = created.strip().splitlines()[-1], created.split()[2]
    _keys(["revoke", revoked_id], database)
    keys = {"none": None, "wrong": "ry_wrong_key_0123456789abcdefghijklm", "revoked": revoked_raw}
    checked = 0
    for dialect in DIALECTS:
        for ep in dialect.endpoints:
            path = _fill(ep.path)
            if not ep.auth or dialect_for(path).is_open(path):
                continue
            for label, key in keys.items():
                headers = {"x-application-id": APP}
                if key is not None:
                    headers["Authorization"] = f"Bearer {key}"
                resp = httpx.request(ep.method, srv.url + path, headers=headers, timeout=10)
                assert resp.status_code == 401, (label, ep.method, ep.path, resp.status_code)
                assert resp.headers.get("www-authenticate") == "Bearer"
                body = resp.json()
                shape = SHAPE[dialect.name]
                if shape == "problem":
                    assert resp.headers["content-type"] == "application/problem+json" and body["status"] == 401
                else:
                    assert isinstance(body[shape], str) and body[shape], (ep.path, body)
            headers = {"Authorization": f"Bearer {srv.api_key}", "x-application-id": APP}
            if ep.content_type == "text/event-stream":
                with httpx.stream(ep.method, srv.url + path, headers=headers, timeout=10) as live:
                    assert live.status_code != 401 and live.status_code < 500, (ep.path, live.status_code)
            else:
                resp = httpx.request(ep.method, srv.url + path, headers=headers, json={}, timeout=30)
                assert resp.status_code != 401 and resp.status_code < 500, (ep.method, ep.path, resp.status_code)
            checked += 1
    assert checked > 50
