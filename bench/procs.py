"""A process the benchmarks start and always stop (SIGTERM, then SIGKILL after `grace` seconds)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def process(
    args: list[str], env: dict[str, str] | None, cwd: Path, *, quiet: bool = False, grace: float = 10.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `args` in `cwd` with the environment plus `env`; stdout discarded, stderr too when `quiet`."""
    stderr = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(args, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
