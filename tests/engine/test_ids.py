from __future__ import annotations

from runyard.ids import encode_128, is_ulid, new_ulid

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
