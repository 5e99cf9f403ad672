"""Distinct users, counted in bounded memory: one bit per user.

A run counts the users its forced re-logins hit (``users_logged_out``): a user forced
to log in again twice counts once. Memory grows with the number of users (one bit
each, an eighth of a megabyte per million), never with the number of requests, so
summary mode (``record_requests=False``) stays bounded however long the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class UserSet:
    """A set of user indices (integers from 0), one bit per user.

    Args:
        users: how many users to make room for at once (the set grows past it if a larger
            index is added).

    Adding is O(1); :func:`len` is O(1). Memory is ``(largest index + 1) / 8`` bytes.
    """

    __slots__ = ("_bits", "_size")

    def __init__(self, users: int = 0) -> None:
        self._bits = bytearray((max(users, 0) + 7) >> 3)
        self._size = 0

    def add(self, user: int) -> bool:
        """Put ``user`` in the set; ``True`` if it was not in it yet.

        Raises:
            ValueError: a negative user index.
        """
        if user < 0:
            raise ValueError(f"a user index is at least 0, not {user}")
        byte = user >> 3
        bit = 1 << (user & 7)
        bits = self._bits
        if byte >= len(bits):
            bits.extend(bytes(byte + 1 - len(bits)))
        if bits[byte] & bit:
            return False
        bits[byte] |= bit
        self._size += 1
        return True

    def __contains__(self, user: object) -> bool:
        if not isinstance(user, int) or user < 0:
            return False
        byte = user >> 3
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << (user & 7)))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[int]:
        """The users in the set, in increasing order."""
        for byte, value in enumerate(self._bits):
            if value:
                for bit in range(8):
                    if value >> bit & 1:
                        yield byte * 8 + bit

    @property
    def nbytes(self) -> int:
        """Bytes the set's bits take (one bit per user up to the largest index)."""
        return len(self._bits)

    def __repr__(self) -> str:
        return f"UserSet({self._size} users)"

    @classmethod
    def union(cls, sets: Iterable[UserSet]) -> UserSet:
        """The users in any of ``sets`` (a new set; the others are left as they are)."""
        merged = cls()
        as_int = 0
        length = 0
        for item in sets:
            as_int |= int.from_bytes(item._bits, "little")
            length = max(length, len(item._bits))
        merged._bits = bytearray(as_int.to_bytes(length, "little"))
        merged._size = as_int.bit_count()
        return merged
