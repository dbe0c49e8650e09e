"""The replay store: the `iss|jti` of every verified client token, kept until the token could no longer be accepted.

Its memory is allocated in full when the service starts, for `capacity` tokens, and does not change with the
traffic: about 28 bytes a token (a 128-bit digest in two arrays, two links, and a hash table of a power of two
slots), 28 MB for the default million. A million tokens is what 2,700 calls a second with 5-minute tokens keep
live (each is kept for its lifetime plus the leeway), or 270 calls a second with tokens at the 1-hour maximum.
When every slot holds a token that can still be accepted, a new token is refused (`ReplayStoreFullError`, HTTP
503): the store never forgets a token early, since that would let it be replayed.

Each call costs O(1), whatever the store holds: "seen?" follows one chain of the hash table (about one entry
long, the table having at least as many slots as the store holds tokens; the digest is keyed with a secret drawn
at start, so a client cannot choose `jti`s that pile into one chain). Tokens are also filed by the second after
which they can be forgotten; each call releases the seconds that have passed since the previous call, so every
second and every token is visited once (amortised O(1)). A released slot is reused by a later token.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from array import array

NO_ENTRY = -1
MAX_CAPACITY = 2**31 - 1
"""Slots are numbered with C ints."""


class ReplayStoreFullError(Exception):
    """Every slot holds a token that can still be accepted; the message names the capacity (no patient data)."""


class ReplayStore:
    """The tokens seen, each until its second has passed; `add` answers whether a token is new, in O(1)."""

    def __init__(self, capacity: int) -> None:
        if not 0 < capacity <= MAX_CAPACITY:
            raise ValueError(f"the replay store's capacity must be between 1 and {MAX_CAPACITY}, not {capacity}")
        self.capacity = capacity
        table_size = 1 << (capacity - 1).bit_length()
        self._mask = table_size - 1
        self._secret = secrets.token_bytes(16)
        # Every array is written in full here (`array * n` copies), so its pages are resident from the start.
        self._table = array("i", [NO_ENTRY]) * table_size
        """Per hash slot: the first entry whose digest falls in it."""
        self._high = array("Q", [0]) * capacity
        self._low = array("Q", [0]) * capacity
        self._chain = array("i", [NO_ENTRY]) * capacity
        """Per entry: the next entry in its hash slot."""
        self._later = array("i", [NO_ENTRY]) * capacity
        """Per entry: the next entry released in the same second, or the next free entry."""
        self.expiring: dict[int, int] = {}
        """Second after which its entries are released: the first of them."""
        self._free = NO_ENTRY
        self._never_used = 0
        self._size = 0
        self.swept_until: int | None = None
        """Every second before this one has been released."""

    def add(self, key: str, expires: float, now: float) -> bool:
        """Remember `key` until `expires` has passed; False if it is already remembered (a replay).

        Raises `ReplayStoreFullError` when it is new and no slot is free.
        """
        self._sweep(int(now))
        digest = hashlib.blake2b(key.encode(), digest_size=16, key=self._secret).digest()
        high, low = int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big")
        slot = low & self._mask
        entry = self._table[slot]
        while entry != NO_ENTRY:
            if self._low[entry] == low and self._high[entry] == high:
                return False
            entry = self._chain[entry]
        entry = self._take()
        self._high[entry], self._low[entry] = high, low
        self._chain[entry] = self._table[slot]
        self._table[slot] = entry
        second = max(math.floor(expires) + 1, self.swept_until or 0)  # released once `now` is past `expires`
        self._later[entry] = self.expiring.get(second, NO_ENTRY)
        self.expiring[second] = entry
        self._size += 1
        return True

    def _take(self) -> int:
        if self._free != NO_ENTRY:
            entry = self._free
            self._free = self._later[entry]
            return entry
        if self._never_used < self.capacity:
            self._never_used += 1
            return self._never_used - 1
        raise ReplayStoreFullError(
            f"the replay store is full ({self.capacity} tokens still inside their lifetime); try again later"
        )

    def _sweep(self, now_second: int) -> None:
        start = now_second if self.swept_until is None else self.swept_until
        if now_second - start > len(self.expiring):  # a long idle gap: fewer seconds filed than seconds to visit
            due = [second for second in self.expiring if second <= now_second]
        else:
            due = list(range(start, now_second + 1))
        for second in due:
            entry = self.expiring.pop(second, NO_ENTRY)
            while entry != NO_ENTRY:
                following = self._later[entry]
                self._release(entry)
                entry = following
        self.swept_until = max(start, now_second + 1)

    def _release(self, entry: int) -> None:
        slot = self._low[entry] & self._mask
        before = self._table[slot]
        if before == entry:
            self._table[slot] = self._chain[entry]
        else:
            while self._chain[before] != entry:
                before = self._chain[before]
            self._chain[before] = self._chain[entry]
        self._later[entry] = self._free
        self._free = entry
        self._size -= 1

    def __len__(self) -> int:
        return self._size
