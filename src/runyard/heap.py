"""Giving the C heap's free pages back to the system once the server has started.

Starting a server frees a good deal it allocated only once (compiled module files read in, SQLite's schema
work, the settings), but glibc's malloc keeps freed pages mapped until the top of a heap is free. One
`malloc_trim(0)` after startup returns them (about 1 MB of an idle server's 40); it is not repeated, since a
server at work reuses its free memory anyway. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes


def trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
