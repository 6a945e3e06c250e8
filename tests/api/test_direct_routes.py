"""The trigger routes the HTTP protocol serves itself (`serving.GuardedHttpProtocol` with
`routing.DirectRoutes`): over a real socket, a request they take gets the answer the ASGI application gives,
and the connection goes on as HTTP/1.1 says (keep-alive, pipelining, `Connection: close`, HTTP/1.0); a
request they do not model (an unverified key, proxy headers, `Expect: 100-continue`, a chunked body) goes
the usual way."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

from runyard.api.routing import DirectRoutes
from tests.conftest import LiveServer

CONFIG = '[tasks.hello]\nrun = "true"\n'
Start = Callable[..., LiveServer]


def _port(srv: LiveServer) -> int:
    return int(srv.url.rsplit(":", 1)[1])


def _direct(srv: LiveServer) -> DirectRoutes:
    direct = srv._server.config.loaded_app.app.state.direct  # (uvicorn wraps the app in its proxy middleware)
    assert isinstance(direct, DirectRoutes)
    return direct


def request(
    srv: LiveServer, path: str = "/api/tasks/hello/run", body: bytes = b"", *extra: str, key: str = ""
) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: example.test", f"Authorization: Bearer {key or srv.api_key}"]
    lines += [f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Conn:
    def __init__(self, srv: LiveServer) -> None:
        self.sock = socket.create_connection(("127.0.0.1", _port(srv)), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), "the connection closed before a response"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"header {name} twice"
            headers[name.lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            assert self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def warmed(srv: LiveServer) -> Conn:
    """A connection whose first trigger went through the application, which verified the key."""
    conn = Conn(srv)
    conn.send(request(srv))
    assert conn.response()[0] == 201 and _direct(srv).served == 0
    return conn


def _shape(headers: dict[str, str], body: bytes) -> tuple[list[str], set[str]]:
    return sorted(h for h in headers if h != "date"), set(json.loads(body))


def test_a_direct_trigger_answers_as_the_application_does(live_server: Start) -> None:
    srv = live_server(CONFIG)
    direct = _direct(srv)
    conn = Conn(srv)
    try:
        conn.send(request(srv))  # a key not seen yet: the middleware checks it, the application answers
        status, headers, body = conn.response()
        assert status == 201 and direct.served == 0
        conn.send(request(srv))  # verified now: served directly, on the same connection
        status2, headers2, body2 = conn.response()
        assert status2 == 201 and direct.served == 1
        assert _shape(headers2, body2) == _shape(headers, body)
        assert headers2["content-type"] == headers["content-type"] == "application/json"
        first, second = json.loads(body), json.loads(body2)
        assert first["id"] != second["id"] and second["status"] == "pending"
        assert {k: v for k, v in second.items() if k not in ("id", "created_at", "updated_at")} == {
            k: v for k, v in first.items() if k not in ("id", "created_at", "updated_at")
        }
        conn.send(request(srv, body=b'{"params": [1]}'))  # the handler's own errors, in the dialect's shape
        status, headers, body = conn.response()
        assert status == 422 and headers["content-type"] == "application/problem+json" and direct.served == 2
        assert json.loads(body)["errors"][0]["location"] == "body.params"
        conn.send(request(srv, "/api/tasks/nope/run"))
        status, _, body = conn.response()
        assert status == 404 and json.loads(body)["detail"] == "task not found" and direct.served == 3
    finally:
        conn.close()
    with srv.client() as c:
        runs = c.get("/v1/runs", params={"task": "hello"}).json()["runs"]
        assert len(runs) == 2  # every 201 is a stored run, and nothing else is


def test_pipelined_triggers_are_answered_in_order(live_server: Start) -> None:
    srv = live_server(CONFIG)
    conn = warmed(srv)
    try:
        # Three requests in one write, the middle one through the application (a proxy header), then a close.
        conn.send(
            request(srv) + request(srv, "/api/tasks/hello/run", b"", "X-Forwarded-Proto: https")
            + request(srv, "/api/tasks/nope/run") + request(srv, "/api/tasks/hello/run", b"", "Connection: close")
        )  # fmt: skip
        answers = [conn.response() for _ in range(4)]
        assert [a[0] for a in answers] == [201, 201, 404, 201]
        assert json.loads(answers[1][2])["$schema"].startswith("https://example.test/")  # the proxy's scheme
        assert json.loads(answers[0][2])["$schema"].startswith("http://example.test/")
        assert answers[3][1].get("connection") == "close" and conn.closed()
        assert _direct(srv).served == 3
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["Expect: 100-continue"], "an interim response first"),
        (["X-Forwarded-For: 203.0.113.9"], "a proxy's client address"),
    ],
)
def test_requests_it_does_not_model_go_through_the_application(live_server: Start, extra: list[str], why: str) -> None:
    srv = live_server(CONFIG)
    conn = warmed(srv)
    try:
        if "Expect" in extra[0]:  # the body follows the interim response
            conn.send(request(srv, "/api/tasks/hello/run", b"{}", *extra).removesuffix(b"{}"))
            assert conn.response()[0] == 100
            conn.send(b"{}")
        else:
            conn.send(request(srv, "/api/tasks/hello/run", b"", *extra))
        status, _, body = conn.response()
        assert status == 201 and json.loads(body)["status"] == "pending", why
        assert _direct(srv).served == 0, why
    finally:
        conn.close()


def test_a_chunked_body_and_an_unknown_key_take_the_usual_way(live_server: Start) -> None:
    srv = live_server(CONFIG)
    conn = warmed(srv)
    try:
        body = b'{"params": {}}'
        head = request(srv).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
        conn.send(head.removesuffix(b"\r\n\r\n") + b"\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        status, _, answer = conn.response()
        assert status == 201, answer
        assert json.loads(answer)["status"] == "pending"
        conn.send(request(srv, key="ry_not_a_key_at_all_0123456789"))
        status, headers, _ = conn.response()
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        assert _direct(srv).served == 0
    finally:
        conn.close()


def test_http_1_0_gets_its_answer_and_the_connection_closes(live_server: Start) -> None:
    srv = live_server(CONFIG)
    conn = warmed(srv)
    try:
        conn.send(request(srv).replace(b"HTTP/1.1", b"HTTP/1.0", 1))
        status, headers, _ = conn.response()
        assert status == 201 and headers["connection"] == "close" and conn.closed()
        assert _direct(srv).served == 1
    finally:
        conn.close()


def test_an_unexpected_error_is_a_500_in_the_dialect_shape(live_server: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = live_server(CONFIG)
    conn = warmed(srv)
    try:

        async def broken(*_args: Any, **_kw: Any) -> Any:
            raise RuntimeError("a bug")

        monkeypatch.setattr(srv.runtime.service, "trigger", broken)
        conn.send(request(srv))
        status, headers, body = conn.response()
        assert status == 500 and headers["content-type"] == "application/problem+json"
        assert json.loads(body)["detail"] == "internal server error" and _direct(srv).served == 1
        monkeypatch.undo()
        conn.send(request(srv))  # the connection serves on
        assert conn.response()[0] == 201
    finally:
        conn.close()
