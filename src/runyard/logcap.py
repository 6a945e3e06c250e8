"""The per-run log cap (`[server] log_cap_bytes`): which lines fit, and the line that says the rest were dropped.

Stores apply it inside the transaction that appends, against the run's stored size, so it holds across
attempts and worker processes; the worker's log buffer applies it early too, so a task printing without end
costs neither memory nor writes.
"""

from __future__ import annotations


def line_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass")) + 1  # the newline it stands for


def capped_lines(lines: list[tuple[str, str]], used: int, cap: int | None) -> tuple[list[tuple[str, str]], int]:
    """The leading `lines` that fit in `cap` bytes after `used`, and the bytes used with them.
    Nothing is kept after the first line that does not fit: a log never has holes."""
    kept: list[tuple[str, str]] = []
    for stream, text in lines:
        size = line_bytes(text)
        if cap is not None and used + size > cap:
            break
        kept.append((stream, text))
        used += size
    return kept, used


def truncation_notice(cap: int) -> str:
    return f"log truncated: this run's log reached its cap of {cap} bytes (log_cap_bytes); further lines are dropped"
