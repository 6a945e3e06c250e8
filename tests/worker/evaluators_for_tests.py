"""Code evaluators the evaluation tests point at (`module:function`)."""

from __future__ import annotations

import threading
import time
from typing import Any

_lock = threading.Lock()
in_flight = 0
most_in_flight = 0


def long_enough(item: dict[str, Any]) -> dict[str, Any]:
    ok = len(str(item["output"])) >= int(item.get("expected", 3))
    return {"score": 1.0 if ok else 0.25, "label": "long" if ok else "short", "explanation": f"{len(item['output'])}"}


def picky(item: dict[str, Any]) -> Any:
    if item["output"] == "explode":
        raise RuntimeError("cannot score this")
    if item["output"] == "weird":
        return "not a score"
    return item["output"] == "yes"


def slow(item: dict[str, Any]) -> bool:
    global in_flight, most_in_flight
    with _lock:
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
    try:
        time.sleep(float(item.get("sleep", 0.1)))
        return True
    finally:
        with _lock:
            in_flight -= 1
