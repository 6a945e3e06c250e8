from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta

from runyard.ids import encode_128, is_ulid, new_ulid, us_to_iso, us_to_rfc3339

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def slow_encode(value: int) -> str:
    return "".join(ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def test_encoding_matches_the_crockford_definition() -> None:
    for value in (0, 1, 31, 32, 2**80 - 1, 2**128 - 1, 0x0123456789ABCDEF0123456789ABCDEF, 1795560638572 << 80):
        assert encode_128(value) == slow_encode(value)


def test_ulids_are_valid_unique_and_increase() -> None:
    ids = [new_ulid() for _ in range(5000)]
    assert all(is_ulid(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_a_forked_process_does_not_repeat_its_parents_ids() -> None:
    """After a fork, parent and child make ULIDs in the same millisecond: none of them may be equal."""
    new_ulid()  # the parent holds a pool and a last random part
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its ids and leave at once
        os.close(read)
        os.write(write, ",".join(new_ulid() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    parent = [new_ulid() for _ in range(50)]
    with os.fdopen(read) as pipe:
        child = pipe.read().split(",")
    os.waitpid(pid, 0)
    assert len(child) == 50 and not set(child) & set(parent)
    assert len({c[10:] for c in child} & {p[10:] for p in parent}) == 0  # nor their random parts


def test_timestamps_render_exactly() -> None:
    """Every microsecond renders as datetime arithmetic says, across seconds, days, leap days and before 1970."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rng = random.Random(7)
    samples = [0, 1, 999_999, 1_000_000, -1, -1_000_001, 951_782_400_000_000, 1_764_830_000_123_457]
    samples += [rng.randrange(-(10**15), 4 * 10**15) for _ in range(2000)]
    for us in samples:
        dt = epoch + timedelta(microseconds=us)
        assert us_to_rfc3339(us) == dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}Z", us
        assert us_to_iso(us) == dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z", us
