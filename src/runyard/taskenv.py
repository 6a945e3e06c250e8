"""The environment a task's subprocess starts from: an allow-list of the server's environment, never all of it.

runyard's own configuration and secrets (RUNYARD_API_KEY, database URLs, cloud credentials the server was
started with) stay out of tasks. A task gets:

1. the variables named in `DEFAULT_PASS_ENV` (and any `LC_*`) that are set in the server's environment,
2. plus the names in `[server] pass_env = [...]`,
3. then the task's own `env` table (which wins),
4. then RUNYARD_RUN_ID, RUNYARD_TASK, RUNYARD_ATTEMPT, RUNYARD_PAYLOAD and RUNYARD_WORKER_TOKEN.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

DEFAULT_PASS_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    "PWD", "HOSTNAME", "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip
PASS_PREFIXES = ("LC_",)


def base_env(extra: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of `environ` (default: os.environ)."""
    source = os.environ if environ is None else environ
    names = set(DEFAULT_PASS_ENV) | set(extra)
    return {k: v for k, v in source.items() if k in names or k.startswith(PASS_PREFIXES)}
