"""Placing one run into the capacity that is left. PURE; `capacity` lists are updated in place.

A placement is a list of `Use`s, one per slot the run draws power in.
"""

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from reconcile.planner.grid import EPS, Grid, energy_between, footprint, peak_between, slot_count


@dataclass(frozen=True, slots=True)
class Use:
    slot: int
    offset: float  # profile seconds done when the run enters this slot
    seconds: float  # how long it runs in the slot
    peak: float
    energy: float


def misfit(capacity: list[float], k: int, peaks: list[float]) -> int | None:
    """The first offset j at which `peaks` started in slot k exceeds capacity, or None."""
    for j, need in enumerate(peaks):
        if capacity[k + j] + EPS < need:
            return j
    return None


def occupy(capacity: list[float], uses: list[Use]) -> None:
    for use in uses:
        capacity[use.slot] -= use.peak


def contiguous_uses(grid: Grid, k: int, shape, offset: float, footprint_: tuple) -> list[Use]:
    """The uses of an uninterrupted run entering slot k at profile offset `offset`."""
    uses, done = [], offset
    for j, (peak, energy) in enumerate(zip(*footprint_, strict=True)):
        length = min(grid.slot_s - (grid.lead if k + j == 0 else 0), shape.duration_s - done)
        uses.append(Use(k + j, done, length, peak, energy))
        done += length
    return uses


def first_fit(capacity: list[float], first: list[float], rest: list[float], lo: int, hi: int) -> int | None:
    """Earliest slot k in [lo, hi) where the footprint fits (`first` is used when k == 0).

    After a misfit at j, if that slot's capacity is below the footprint's smallest peak, no
    start up to k + j can fit either, so the search jumps past it.
    """
    k = lo
    if k == 0 and hi > 0:
        if misfit(capacity, 0, first) is None:
            return 0
        k = 1
    smallest, head = min(rest), rest[0] - EPS
    while k < hi:
        if capacity[k] < head:  # the common failure, checked without a call
            k += 1
            continue
        j = misfit(capacity, k, rest)
        if j is None:
            return k
        k = k + j + 1 if capacity[k + j] + EPS < smallest else k + 1
    return None


def feasible_starts(capacity: list[float], first: list[float], rest: list[float], lo: int, hi: int):
    """Every slot in [lo, hi) where the footprint fits, in order."""
    k = lo
    while k is not None and k < hi:
        k = first_fit(capacity, first, rest, k, hi)
        if k is not None:
            yield k
            k += 1


def place_block(grid, capacity, shape, offset, lo, hi, choose=None) -> list[Use] | None:
    """An uninterrupted run from profile `offset`, placed (and its capacity taken) at the first fit
    in [lo, hi) or at `choose`'s pick among the feasible starts."""
    first = footprint(shape, offset, grid.lead, grid.slot_s)
    rest = footprint(shape, offset, 0.0, grid.slot_s)
    if choose is None:
        k = first_fit(capacity, first[0], rest[0], lo, hi)
    else:
        k = choose(feasible_starts(capacity, first[0], rest[0], lo, hi), first[1], rest[1])
    if k is None:
        return None
    uses = contiguous_uses(grid, k, shape, offset, first if k == 0 else rest)
    occupy(capacity, uses)
    return uses


@dataclass(frozen=True, slots=True)
class Pausable:
    """What slot-by-slot placement of an interruptible run needs to know about it."""

    duration_s: float
    min_run_s: float
    min_pause_s: float
    on_for_s: float | None  # running: seconds since its last start/resume; None when off
    off_until: float  # paused: the instant its minimum pause ends


def place_slots(grid: Grid, capacity: list[float], shape, offset: float, lo: int, run: Pausable,
                allowed: list[int] | None = None) -> list[Use]:
    """Greedy slot-by-slot placement honouring minimum run and pause; may cover only part of the run.

    A stretch begins only where its minimum run fits ahead (or the rest of the profile, if shorter);
    once begun it continues while each slot fits, then pauses for at least the minimum pause.
    `allowed` (ascending): the only slots whose capacity is not -inf, so a search can jump between them.
    """
    uses: list[Use] = []
    cache: dict = {}
    done, k = offset, lo
    on_for = run.on_for_s
    if on_for is None:
        k = max(k, grid.slot_at_or_after(run.off_until))
    n = len(capacity)
    while done < run.duration_s - EPS and k < n:
        if on_for is None:
            k = _next_room(grid, capacity, shape, done, k, allowed)
            if k >= grid.horizon:
                break
            stretch = _stretch(grid, capacity, shape, done, k, run, cache)
            if isinstance(stretch, int):  # no room for a stretch from k: the next slot worth trying
                k = stretch
                continue
            uses.extend(stretch)
            done = stretch[-1].offset + stretch[-1].seconds
            k, on_for = stretch[-1].slot + 1, sum(u.seconds for u in stretch)
            continue
        use = _slot_use(grid, shape, done, k)
        if capacity[k] + EPS < use.peak:
            on_for, k = None, k + max(1, slot_count(run.min_pause_s, grid.slot_s))
            continue
        capacity[k] -= use.peak
        uses.append(use)
        done, k, on_for = done + use.seconds, k + 1, on_for + use.seconds
    return uses


def _next_room(grid: Grid, capacity: list[float], shape, done: float, k: int, allowed: list[int] | None) -> int:
    """The first slot from k with room for the run's next slot of profile (a cheap pre-check:
    while a run is off its progress stands still, so that need is the same in every slot)."""
    if k == 0:
        if capacity[0] + EPS >= _slot_use(grid, shape, done, 0).peak:
            return 0
        k = 1
    need = peak_between(shape, done, min(done + grid.slot_s, shape.duration_s)) - EPS
    horizon = grid.horizon
    if allowed is not None:  # a masked capacity: only these slots can have room
        for slot in allowed[bisect_left(allowed, k):]:
            if slot >= horizon or capacity[slot] >= need:
                return min(slot, horizon)
        return horizon
    while k < horizon and capacity[k] < need:
        k += 1
    return k


def _slot_use(grid: Grid, shape, done: float, k: int) -> Use:
    length = min(grid.slot_s - (grid.lead if k == 0 else 0), shape.duration_s - done)
    return Use(k, done, length, peak_between(shape, done, done + length), energy_between(shape, done, done + length))


def _stretch(grid, capacity, shape, done, k, run: Pausable, cache: dict) -> list[Use] | int:
    """The uses of a new stretch from slot k long enough for the minimum run, if they all fit;
    else the next slot a stretch may start in.

    Away from slot 0 a stretch's uses depend only on `done`, so they are computed once per
    progress value (`cache`) and only shifted to the slot being tried. A slot too small for even
    the stretch's smallest need rules out every start that would cover it (as in `first_fit`).
    """
    if k == 0:
        uses = _stretch_uses(grid, shape, done, 0, run)
    else:
        if done not in cache:
            cache.clear()
            template = _stretch_uses(grid, shape, done, 1, run)
            needs = [u.peak - EPS for u in template]
            cache[done] = (template, needs, min(needs))
        template, needs, smallest = cache[done]
        if k + len(needs) > len(capacity):
            return k + 1
        short = next((i for i, need in enumerate(needs) if capacity[k + i] < need), None)
        if short is not None:
            return k + short + 1 if capacity[k + short] < smallest else k + 1
        uses = [Use(k + u.slot - 1, u.offset, u.seconds, u.peak, u.energy) for u in template]
    if uses[-1].slot >= len(capacity) or any(capacity[u.slot] + EPS < u.peak for u in uses):
        return k + 1
    occupy(capacity, uses)
    return uses


def _stretch_uses(grid, shape, done, k, run: Pausable) -> list[Use]:
    target = min(run.min_run_s, run.duration_s - done)
    uses, ran = [], 0.0
    while True:
        use = _slot_use(grid, shape, done + ran, k)
        uses.append(use)
        ran += use.seconds
        k += 1
        if ran >= target - EPS:
            return uses


def place_slots_ranked(grid: Grid, capacity: list[float], shape, offset: float, lo: int, run: Pausable,
                       ranking: Callable[[], tuple[list[int], list]], end: int) -> list[Use]:
    """Like `place_slots`, but in the best slots only: the fewest of `ranking()` (the
    window's slots best first, and each slot's cost) in which the rest of the run fits before
    `end`, minimum run and pause honoured. When even as soon as possible it cannot be done by
    `end`, or as soon as possible uses only slots of the least cost, the plan is as soon as
    possible.

    Within the allowed slots `place_slots` goes earliest first, so ties and leftovers go to the
    earlier slot and an unchanged problem gives an unchanged plan.
    """
    soonest = place_slots(grid, list(capacity), shape, offset, lo, run)
    complete = soonest and soonest[-1].offset + soonest[-1].seconds >= run.duration_s - EPS
    ranked, cost = ranking() if complete and soonest[-1].slot < end else ([], [])
    worst = max(cost[u.slot] for u in soonest) if ranked else None
    if not ranked or worst == cost[ranked[0]]:
        occupy(capacity, soonest)
        return soonest

    def attempt(n: int) -> list[Use] | None:
        masked = [-math.inf] * len(capacity)
        for k in ranked[:n]:
            masked[k] = capacity[k]
        first = lo if run.on_for_s is not None else max(lo, min(ranked[:n]))  # an off run waits anyway
        uses = place_slots(grid, masked, shape, offset, first, run, sorted(ranked[:n]))
        done = uses and uses[-1].offset + uses[-1].seconds >= run.duration_s - EPS
        return uses if done and uses[-1].slot < end else None

    low = max(1, slot_count(run.duration_s - offset, grid.slot_s))
    high = bisect_right([cost[k] for k in ranked], worst)  # allowing every slot as good as the worst used
    best, probe = soonest, low
    # Try the slots needed, gallop up, then halve down to the fewest that still do. Exactly the
    # fewest, not "near enough": the count is the same at every tick (the window's slots keep their
    # rank as `now` moves), so the plan is too; stopping early depended on where `now` fell.
    while low <= high:
        middle = probe if best is soonest else (low + high) // 2
        uses = attempt(middle)
        probe = min(high, 2 * middle)
        if uses is None:
            low = middle + 1
        else:
            best, high = uses, middle - 1  # `best` holds it: look below
    occupy(capacity, best)
    return best
