"""Schema fuzzing: schemathesis generates requests for every operation of the served OpenAPI document and
sends them to a real server process over a socket. Every answer must be no 5xx and must conform to the
document (status codes, content types, response bodies and headers), also along the document's links (the
stateful phase: trigger, then read and cancel what it made). `make fuzz` runs the long version,
which also reports schema-valid requests the server refuses (constraints the document does not state)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_healthy

API_KEY = "ry_fuzz_key_0123456789abcdefghijk"
CONFIG = (
    "[tasks.hello]\nnoop = true\n\n"
    '[[applications]]\nid = "app_1"\ntitle = "Bot"\nwebhook_url = "http://127.0.0.1:9/hook"\n'
)
RESPONSE_CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)


def fuzz(tmp: Path, max_examples: int, checks: str, workers: int = 1) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    (tmp / "runyard.toml").write_text(CONFIG)
    port = free_port()
    env = {**os.environ, "RUNYARD_API_KEY": API_KEY, "RUNYARD_DATA_DIR": str(tmp / "data")}
    server = subprocess.Popen(
        [str(bin_dir / "runyard"), "server", "--config", str(tmp / "runyard.toml"), "--listen", f"127.0.0.1:{port}",
         "--database", f"sqlite:///{tmp / 'runyard.db'}"],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp / "server.log").open("wb"),
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        return subprocess.run(
            [str(bin_dir / "schemathesis"), "run", f"http://127.0.0.1:{port}/openapi.json",
             "-H", f"Authorization: Bearer {API_KEY}", "-H", "x-application-id: app_1",
             "--exclude-path-regex", "stream",  # live streams never end; tested in tests/api/test_*streams*
             "--phases", "examples,fuzzing,stateful", "--max-examples", str(max_examples), "--checks", checks,
             "--workers", str(workers), "--seed", os.environ.get("FUZZ_SEED", "20261203")],
            capture_output=True, text=True, timeout=600, cwd=tmp,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_fuzzing_every_operation_finds_no_server_error_and_no_nonconforming_response(tmp_path: Path) -> None:
    result = fuzz(tmp_path, max_examples=20, checks=RESPONSE_CHECKS)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "passed" in result.stdout and "generated" in result.stdout
    assert "Stateful" in result.stdout and "API Links:" in result.stdout  # the links were followed
    assert "Traceback" not in (tmp_path / "server.log").read_text()


if __name__ == "__main__":  # `make fuzz`: longer, every check, prints how many cases were tried
    import tempfile

    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as tmp:
        outcome = fuzz(Path(tmp), max_examples=examples, checks="all", workers=2)
        print(outcome.stdout)
        sys.exit(outcome.returncode)


def test_the_document_states_the_limits_the_server_enforces() -> None:
    from runyard.api.dialects import DIALECTS
    from runyard.api.openapi import build_openapi

    doc = build_openapi(DIALECTS, "0")

    def param(path: str, method: str, name: str) -> dict[str, object]:
        found = [p for p in doc["paths"][path][method]["parameters"] if p["name"] == name]
        return dict(found[0]["schema"])

    assert param("/v1/runs", "get", "limit") == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert param("/api/v1/runs", "get", "page[size]") == {"type": "integer", "minimum": 1, "maximum": 100}
    assert "pattern" in param("/api/runs/{runId}", "get", "runId")
    assert "pattern" in param("/api/tasks/{taskName}/run", "post", "taskName")
    assert doc["paths"]["/api/v1/runs/{runId}/tags"]["post"]["requestBody"]["required"] is True
    trigger = doc["paths"]["/v1/tasks/{name}/trigger"]["post"]["responses"]
    assert {"200", "201"} <= set(trigger)  # 200 when an idempotency key matched an existing run
    components = doc["components"]["schemas"]
    assert components["BatchBody"]["properties"]["items"]["minItems"] == 1
    assert components["BatchBody"]["properties"]["items"]["maxItems"] == 1000
