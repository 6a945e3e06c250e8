"""Memory housekeeping of a serving process: the C heap's free pages given back once after startup, and fewer
cyclic garbage collections while it works.

Starting a server frees a good deal it allocated only once (compiled module files read in, SQLite's schema
work, the settings), but glibc's malloc keeps freed pages mapped until the top of a heap is free. One
`malloc_trim(0)` after startup returns them (about 1 MB of an idle server's 40); it is not repeated, since a
server at work reuses its free memory anyway. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc

# Python collects its youngest generation every 700 new container objects and the whole heap when the older
# generations have grown; a trigger allocates dozens, and the server keeps thousands of runs in its event log,
# so a collection ran every few requests and a full one often (7% of a busy server's CPU in a profile). Runs,
# requests and events are freed by reference counting; cycles are rare and may wait for 50,000 allocations.
GC_THRESHOLDS = (50_000, 20, 100)


def trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def fewer_collections() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
