"""A small closed-loop HTTP/1.1 load generator (keep-alive connections, one request in flight each).

The same generator drives every target in a run, so the ratios between targets are fair even though the
generator shares the machine's cores with the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]


def build_request(host: str, port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def run_load(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    *,
    connections: int,
    total: int,
    keep_bodies: bool = False,
) -> LoadResult:
    """Send `total` requests over `connections` keep-alive connections; request i is make_request(i)."""
    result = LoadResult()
    counter = iter(range(total))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in counter:
                t0 = time.perf_counter()
                writer.write(make_request(i))
                status, body = await read_response(reader)
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                result.requests += 1
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status >= 400:
                    result.errors += 1
                if keep_bodies:
                    result.bodies.append(body)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    result.seconds = time.perf_counter() - start
    return result
