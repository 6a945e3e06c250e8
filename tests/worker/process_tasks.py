"""Python tasks for the worker-process tests."""

from __future__ import annotations

import os
import time
from typing import Any


def pid(payload: Any) -> int:
    """Sleep `payload` seconds, then say which process ran this."""
    time.sleep(float(payload or 0))
    return os.getpid()
