"""Where a footprint's search may skip to: starts whose heavy opening needs all have room. PURE.

`placement.first_fit` and a pausable run's stretch search try starts one by one, and a run
that fits nowhere (most of a crowded horizon's runs) is tried at every slot of its window. In
Python that is a loop turn a slot and a need-by-need test at each slot with room for the first
need, most of them failing within the heavy opening needs (the heating phase). Here a chunk of
slots becomes a byte mask (one `map`, no Python per slot): 1 where a slot has room for the least
of those heavy needs. A start can fit only where the mask holds a 1 for each of them, which
`bytes.find` locates in C.

The mask is a filter, never a verdict: its bar is a little below the callers' own tests, and
each start it lets through is tested exactly as before, so the start found is the same one. The
capacity must not change while one `Candidates` is in use (the searches take it only on success).
"""

from itertools import repeat
from operator import ge

from reconcile.planner.grid import EPS

CHUNK = 256  # slots masked at first (doubling after): a start found early pays for little more


def heavy_prefix(needs: list[float]) -> tuple[int, float]:
    """How many opening needs are at least half the first one, and the least of them."""
    bar = needs[0] / 2
    count = max(1, next((j for j, need in enumerate(needs) if need < bar), len(needs)))
    return count, min(needs[:count])


class Candidates:
    """The starts in [.., hi) where each of `needs`' heavy opening needs may have room, in order."""

    __slots__ = ("capacity", "hi", "heavy", "ones", "bar", "chunk", "base", "stop", "mask")

    def __init__(self, capacity: list[float], needs: list[float], hi: int) -> None:
        self.capacity, self.hi = capacity, hi
        self.heavy, floor = heavy_prefix(needs)
        self.ones = b"\x01" * self.heavy
        # below any capacity that passes `capacity + EPS >= need` or `capacity >= need - EPS`
        self.bar = floor - 2 * EPS - abs(floor) * 1e-9
        self.chunk, self.base, self.stop, self.mask = CHUNK, 0, 0, b""

    def next(self, k: int) -> int:
        """The first candidate start from k, or `hi` when there is none."""
        while k < self.hi:
            if not self.base <= k < self.stop:
                self.base, self.stop = k, min(self.hi, k + self.chunk)
                self.chunk *= 2
                window = self.capacity[k:self.stop + self.heavy - 1]
                self.mask = bytes(list(map(ge, window, repeat(self.bar))))
            i = self.mask.find(self.ones, k - self.base)
            if 0 <= i < self.stop - self.base:
                return self.base + i
            k = self.stop
        return self.hi
