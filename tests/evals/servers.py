"""Real HTTP servers on a socket for the evaluation tests: an application under test, and an LLM judge
speaking the OpenAI chat-completions protocol."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.bodies: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.url = ""


def _handler(rec: Recorder, answer: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            with rec.lock:
                rec.bodies.append({"path": self.path, "auth": self.headers.get("authorization"), **body})
                rec.in_flight += 1
                rec.max_in_flight = max(rec.max_in_flight, rec.in_flight)
            try:
                time.sleep(rec.delay)
                status, reply = answer(self.path, body)
            finally:
                with rec.lock:
                    rec.in_flight -= 1
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve(answer: Any, delay: float = 0.0) -> Iterator[Recorder]:
    rec = Recorder(delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec, answer))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def application(path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """The application under test: upper-cases its input; "fail" is a 500."""
    text = str(body["input"])
    if text == "fail":
        return 500, {"error": "the model is down"}
    return 200, {"answer": text.upper(), "item": body["item_id"]}


def judge(path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """A chat-completions judge: "correct" when the prompt's OUTPUT line equals its EXPECTED line."""
    if path != "/v1/chat/completions":
        return 404, {"error": {"message": "no such route"}}
    prompt = body["messages"][0]["content"]
    fields = dict(line.split(": ", 1) for line in prompt.splitlines() if ": " in line)
    verdict = "correct" if fields.get("OUTPUT") == fields.get("EXPECTED") else "incorrect"
    content = f"The answer is {verdict} because I compared them."
    return 200, {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }  # fmt: skip
