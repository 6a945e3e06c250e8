"""Python tasks for the execution tests: output capture, run context, and stopping sync code."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from typing import Any

import runyard

STATE: dict[str, Any] = {}  # what the tasks report back to the tests (same process)


def chatty(payload: Any) -> str:
    print("out one")
    print("err one", file=sys.stderr)
    sys.stdout.write("partial ")
    sys.stdout.write("line\n")
    logging.getLogger("tests.chatty").warning("warned %s", 7)
    ctx = runyard.context()
    ctx.logger.info("context logger, run %s attempt %d", ctx.run_id, ctx.attempt)
    worker = threading.Thread(target=lambda: (print("from a thread"), logging.getLogger("t").error("thread log")))
    worker.start()
    worker.join()
    ctx.set_progress(0.5, "half")
    ctx.set_metadata("task", ctx.task)
    return "done"


async def chatty_async(payload: Any) -> str:
    print("async out")
    logging.getLogger("tests.chatty").error("async log")
    runyard.context().set_metadata("seen", payload)
    return "done"


def failing(payload: Any) -> None:
    print("about to fail")
    raise KeyError("the-missing-key")


def noisy(payload: Any) -> None:
    for i in range(int(payload)):
        print(f"line {i:05d} " + "x" * 90)


def spin(payload: Any) -> None:
    """A pure-Python loop that never ends by itself; records whether it was stopped."""
    STATE["spinning"] = True
    STATE["spin_stopped"] = False
    try:
        n = 0
        while True:
            n += 1
    finally:
        STATE["spin_stopped"] = True


def stubborn(payload: Any) -> None:
    """Swallows the first stop, then spins on (must be stopped again)."""
    STATE["swallowed"] = 0
    STATE["stubborn_stopped"] = False
    try:
        while True:
            try:
                while True:
                    pass
            except BaseException:
                STATE["swallowed"] += 1
                if STATE["swallowed"] > 1:
                    raise
    finally:
        STATE["stubborn_stopped"] = True


def native_sleep(payload: Any) -> None:
    STATE["native_started"] = True
    STATE["native_done"] = False
    try:
        time.sleep(float(payload))  # a C call: a stop is delivered only when it returns
    finally:
        STATE["native_done"] = True


def after(payload: Any) -> Any:
    """Runs after native_sleep in a queue of one: reports whether the sleeper had stopped by then."""
    return STATE.get("native_done")


async def print_then_wait(payload: Any) -> None:
    print("before the wait")
    logging.getLogger("tests.wait").error("logged before the wait")
    await asyncio.sleep(0.3)  # the output is passed on while the task still runs
