"""The trigger path's shortcuts answer what Starlette's Request answers: the base URL and query parameters."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from runyard.api.common import base_url, query


def _request(host: bytes | None, scheme: str = "http", root: str = "", server: object = ("127.0.0.1", 9477),
             qs: bytes = b"") -> Request:  # fmt: skip
    headers = [] if host is None else [(b"host", host)]
    return Request({"type": "http", "scheme": scheme, "headers": headers, "root_path": root, "server": server,
                    "path": "/api/tasks/x/run", "query_string": qs, "method": "POST"})  # fmt: skip


@pytest.mark.parametrize(
    "host, scheme, root, server",
    [
        (b"127.0.0.1:9477", "http", "", ("127.0.0.1", 9477)),
        (b"example.com", "https", "", ("10.0.0.1", 443)),
        (b"example.com:8443", "https", "/runyard", ("10.0.0.1", 8443)),
        (None, "http", "", ("127.0.0.1", 80)),
        (None, "http", "", ("127.0.0.1", 9000)),
        (None, "https", "/p", None),
        (b"[::1]:9477", "http", "", ["::1", 9477]),
    ],
)
def test_base_url_is_starlettes(host: bytes | None, scheme: str, root: str, server: object) -> None:
    for _ in range(2):  # computed, then remembered
        request = _request(host, scheme, root, server)
        assert base_url(request) == str(request.base_url).rstrip("/")


def test_query_is_starlettes() -> None:
    assert dict(query(_request(b"h"))) == {}
    request = _request(b"h", qs=b"wait=true&via=cli&via=ui&x=")
    assert dict(query(request)) == dict(request.query_params) == {"wait": "true", "via": "ui", "x": ""}
