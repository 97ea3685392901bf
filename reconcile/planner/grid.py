"""The slot grid a plan is built on: capacity, price and PV per slot, and run footprints. PURE.

Slot 0 is the slot holding `now`; it starts at `now` (the past part of it is gone). Slot k > 0
starts on the home's slot boundary. A slot's capacity is limit + PV − base at its worst instant
(a forecast step inside a slot counts: the breaker trips on the worst second); its price and PV
are those of the interval covering its first second. A slot no forecast covers gets the
defaults of DESIGN.md (no PV, the reserve as base load) and the dearest known price.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

from reconcile.planner.domain import Interval, Shape, Snapshot
from reconcile.planner.meter import metered_capacity

EPS = 1e-6  # watts (and fractions of a slot): float noise never decides whether a run fits


def slot_index(seconds: float, slot_s: int, *, noise: float = 0.0) -> int:
    """The slot holding the instant `seconds` after a slot boundary: floor(seconds / slot_s), a
    shortfall of less than `noise` slots below the next boundary counting as reaching it."""
    return math.floor(seconds / slot_s + noise)


def slot_count(seconds: float, slot_s: int, *, noise: float = EPS) -> int:
    """How many slots the `seconds` after a slot boundary reach into (so the index of the first
    boundary at or after them): ceil(seconds / slot_s), an excess of less than `noise` slots over
    a boundary (float noise) not counting. Whole seconds of whole-second slots are exact."""
    return math.ceil(seconds / slot_s - noise)


def slot_floor(t: float, slot_s: int) -> int:
    """The boundary at or before epoch instant `t` of the epoch-aligned `slot_s`-second slots."""
    return slot_index(t, slot_s) * slot_s


def slot_ceil(t: float, slot_s: int) -> int:
    """The boundary at or after epoch instant `t` of the epoch-aligned `slot_s`-second slots."""
    return slot_count(t, slot_s, noise=0.0) * slot_s


@dataclass(frozen=True, slots=True)
class Grid:
    origin: float  # epoch seconds of the boundary that opens slot 0
    now: float
    slot_s: int
    limit_w: float
    horizon: int  # starts may only be placed in slots [0, horizon)
    capacity: tuple[float, ...]  # limit + PV − base, W; longer than horizon to hold tails
    price: tuple[float, ...]  # per kWh
    pv: tuple[float, ...]  # W

    @property
    def lead(self) -> float:
        """Seconds of slot 0 already past at `now`."""
        return self.now - self.origin

    def start_of(self, k: int) -> float:
        return self.now if k == 0 else self.origin + k * self.slot_s

    def slot_at_or_after(self, instant: float) -> int:
        """The first slot whose start is not before `instant` (0 if it is already past)."""
        if instant <= self.now:
            return 0
        return slot_count(instant - self.origin, self.slot_s, noise=1e-9)

    def slot_holding(self, instant: float) -> int:
        return max(0, slot_index(instant - self.origin, self.slot_s))


def make_grid(snapshot: Snapshot, now: float, tail_slots: int) -> Grid:
    """The grid from `now` over the home's horizon plus `tail_slots` for runs that end beyond it."""
    home = snapshot.home
    origin = slot_floor(now, home.slot_s)
    horizon = max(1, home.horizon_s // home.slot_s)
    starts = [origin + k * home.slot_s for k in range(horizon + tail_slots)]
    starts[0] = now
    pv = _sample(snapshot.pv, starts, 0.0)
    capacity = _worst_capacity(snapshot, starts, [origin + (k + 1) * home.slot_s for k in range(len(starts))])
    if snapshot.meter is not None:  # issue 12: a measured import corrects slot 0 (planner.meter)
        capacity = (metered_capacity(snapshot, now, capacity[0]), *capacity[1:])
    # An unpriced slot costs the dearest known price: `cheapest` must not chase hours it knows
    # nothing about (with no price at all, every slot is equal and first fit decides).
    price = _sample(snapshot.price, starts, max((i.value for i in snapshot.price), default=0.0))
    return Grid(origin, now, home.slot_s, home.limit_w, horizon, capacity, tuple(price), tuple(pv))


def _worst_capacity(snapshot: Snapshot, starts: list[float], ends: list[float]) -> tuple[float, ...]:
    """limit + PV − base per slot, at the slot's start and every PV or base step inside it."""
    home = snapshot.home
    steps = sorted({t for i in (*snapshot.pv, *snapshot.base) for t in (i.start, i.end)})
    points, owners, s = [], [], 0
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        points.append(a)
        owners.append(k)
        while s < len(steps) and steps[s] <= a:
            s += 1
        while s < len(steps) and steps[s] < b:  # a forecast step inside the slot
            points.append(steps[s])
            owners.append(k)
            s += 1
    pv, base = _sample(snapshot.pv, points, 0.0), _sample(snapshot.base, points, home.reserve_w)
    capacity = [math.inf] * len(starts)
    for k, p, b in zip(owners, pv, base, strict=True):
        capacity[k] = min(capacity[k], home.limit_w + p - b)
    return tuple(capacity)


def _sample(series: tuple[Interval, ...], points: list[float], default: float) -> list[float]:
    """The value covering each of the ascending `points` (one sweep: forecasts do not overlap)."""
    ordered = sorted(series, key=lambda interval: interval.start)
    values, i, n = [], 0, len(ordered)
    for instant in points:
        while i < n and ordered[i].end <= instant:
            i += 1
        values.append(ordered[i].value if i < n and ordered[i].start <= instant else default)
    return values


def peak_between(shape: Shape, a: float, b: float) -> float:
    """Highest instantaneous power of the profile between offsets `a` and `b` seconds."""
    return _peak(shape.peaks, shape.slot_s, a, b)


def energy_between(shape: Shape, a: float, b: float) -> float:
    """Wh the profile draws between offsets `a` and `b` seconds."""
    return _energy(shape.watts, shape.slot_s, a, b)


def _peak(peaks: tuple[float, ...], step: int, a: float, b: float) -> float:
    first = int(a // step)
    last = min(len(peaks), math.ceil(b / step - 1e-9))  # slot_count(b, step, noise=1e-9)
    return max(peaks[first:max(last, first + 1)])


def _energy(watts: tuple[float, ...], step: int, a: float, b: float) -> float:
    total, i, count = 0.0, int(a // step), len(watts)
    while i < count and i * step < b:
        overlap = min(b, (i + 1) * step) - max(a, i * step)
        total += watts[i] * overlap
        i += 1
    return total / 3600


def footprint(shape: Shape, offset: float, lead: float, slot_s: int) -> tuple[list[float], list[float]]:
    """Per-slot (peak W, energy Wh) of the profile from `offset` on, started `lead` s into slot 0.

    Remembered (a pure function of frozen values): the joint placement asks for the same run's
    footprint many times. Fresh lists each call, so a caller may change them."""
    peaks, energies = _footprint(shape, offset, lead, slot_s)
    return list(peaks), list(energies)


@lru_cache(maxsize=4096)
def _footprint(shape: Shape, offset: float, lead: float, slot_s: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    duration, step = shape.duration_s, shape.slot_s  # read once: a slot's need is `_peak`/`_energy` inline
    if lead == 0 and slot_s == step and offset % step == 0 and 0 <= offset < duration and len(shape.peaks) == len(
            shape.watts):
        # On the profile's own slots, whole seconds: each slot is one profile slot, its peak that
        # slot's and its energy `_energy`'s one term, computed alike (so the same floats).
        first = int(offset // step)
        return shape.peaks[first:], tuple([(0.0 + w * step) / 3600 for w in shape.watts[first:]])
    peaks, energies = [], []
    a, slot_end = offset, offset + slot_s - lead
    while a < duration - EPS:
        b = min(slot_end, duration)
        peaks.append(_peak(shape.peaks, step, a, b))
        energies.append(_energy(shape.watts, step, a, b))
        a, slot_end = b, slot_end + slot_s
    return tuple(peaks), tuple(energies)
