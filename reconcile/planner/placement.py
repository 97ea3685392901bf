"""Placing one run into the capacity that is left. PURE; `capacity` lists are updated in place.

A placement is a list of `Use`s, one per slot the run draws power in.
"""

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from reconcile.planner.grid import EPS, Grid, energy_between, footprint, peak_between, slot_count
from reconcile.planner.placement_scan import Candidates
from reconcile.planner.placement_steps import Steps

NEAR = 16  # slots `first_fit` tries one by one before it skips by a mask


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

    The first few slots are tried one by one (a run often fits at once); past them the search
    skips in C to the starts where the heavy opening needs all have room
    (`placement_scan.Candidates`), which finds the same start.
    """
    k = lo
    if k == 0 and hi > 0:
        if misfit(capacity, 0, first) is None:
            return 0
        k = 1
    head, near = rest[0] - EPS, min(hi, k + NEAR)
    while k < near:
        if capacity[k] >= head and misfit(capacity, k, rest) is None:  # `capacity < head` rules k out
            return k
        k += 1
    candidates = Candidates(capacity, rest, hi)
    k = candidates.next(k)
    while k < hi:
        if capacity[k] >= head and misfit(capacity, k, rest) is None:
            return k
        k = candidates.next(k + 1)
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


CLOSED = -1e12  # W: a slot no run can use (finite: cost objectives do integer arithmetic on capacity)


def closed(capacity: list[float], taken: set[int]) -> list[float]:
    """A copy of `capacity` with the slots `taken` closed (its appliance's other runs hold them:
    a washing machine runs one cycle at a time)."""
    return [CLOSED if k in taken else c for k, c in enumerate(capacity)]


@dataclass(frozen=True, slots=True)
class Pausable:
    """What slot-by-slot placement of an interruptible run needs to know about it."""

    duration_s: float
    min_run_s: float
    min_pause_s: float
    on_for_s: float | None  # running: seconds since its last start/resume; None when off
    off_until: float  # paused: the instant its minimum pause ends

    @classmethod
    def of(cls, run, now: float, ran_s: float = 0.0) -> "Pausable":
        """A run (`domain.Run`) at `now`: when running, on for the time since its last start or
        resume plus `ran_s` (slots already given to it); when paused, off until its minimum pause
        ends; otherwise free to start now."""
        since = run.state_since.timestamp() if run.state_since else now
        on_for = now - since + ran_s if run.state == "running" else None
        return cls(run.shape.duration_s, run.min_run_s, run.min_pause_s, on_for,
                   since + run.min_pause_s if run.state == "paused" else now)


def place_slots(grid: Grid, capacity: list[float], shape, offset: float, lo: int, run: Pausable,
                allowed: list[int] | None = None) -> list[Use]:
    """Greedy slot-by-slot placement honouring minimum run and pause; may cover only part of the run.

    A stretch begins only where its minimum run fits ahead (or the rest of the profile, if shorter);
    once begun it continues while each slot fits, then pauses for at least the minimum pause.
    `allowed` (ascending): the only slots whose capacity is not -inf, so a search can jump between them.
    """
    return _place_slots(grid, capacity, shape, offset, lo, run, allowed, Steps(grid, shape, run))


def _place_slots(grid: Grid, capacity: list[float], shape, offset: float, lo: int, run: Pausable,
                 allowed: list[int] | None, steps: Steps) -> list[Use]:
    """`place_slots` with the run's per-progress quantities in `steps` (shared between attempts)."""
    uses: list[Use] = []
    done, k = offset, lo
    on_for = run.on_for_s
    if on_for is None:
        k = max(k, grid.slot_at_or_after(run.off_until))
    n, pause = len(capacity), max(1, slot_count(run.min_pause_s, grid.slot_s))
    while done < run.duration_s - EPS and k < n:
        if on_for is None:
            stretch = _next_stretch(grid, capacity, shape, done, k, run, allowed, steps)
            if stretch is None:
                break
            uses.extend(stretch)
            done = stretch[-1].offset + stretch[-1].seconds
            k, on_for = stretch[-1].slot + 1, sum(u.seconds for u in stretch)
            continue
        if k == 0:
            use = _slot_use(grid, shape, done, 0)
        else:
            seconds, peak, energy = steps.slot(done)
            use = Use(k, done, seconds, peak, energy)
        if capacity[k] + EPS < use.peak:
            on_for, k = None, k + pause
            continue
        capacity[k] -= use.peak
        uses.append(use)
        done, k, on_for = done + use.seconds, k + 1, on_for + use.seconds
    return uses


def _next_stretch(grid: Grid, capacity: list[float], shape, done: float, k: int, run: Pausable,
                  allowed: list[int] | None, steps: Steps) -> list[Use] | None:
    """The first stretch (capacity taken) of an off run at progress `done` starting in [k, horizon).

    Cheap pre-checks first: while a run is off its progress stands still, so its stretch needs
    the same in every slot; the search skips to where the stretch's heavy needs may have room
    (`placement_scan.Candidates`) or, in a masked capacity, steps through `allowed` only, and
    then wants room for the next slot of profile. Then the whole stretch; a too-small slot rules
    out the next starts that would meet it with a larger need (as in `first_fit`).
    """
    if k == 0:
        if capacity[0] + EPS >= _slot_use(grid, shape, done, 0).peak:
            uses = _stretch_uses(grid, shape, done, 0, run)
            if uses[-1].slot < len(capacity) and all(capacity[u.slot] + EPS >= u.peak for u in uses):
                occupy(capacity, uses)
                return uses
        k = 1
    n = len(capacity)
    need, horizon = steps.room(done), min(grid.horizon, n)  # a slot past the capacity ends the search too
    template, needs, smallest = steps.stretch(done)
    size, pos = len(needs), bisect_left(allowed, k) if allowed is not None else 0
    ends = len(allowed) if allowed is not None else 0
    candidates = Candidates(capacity, needs, horizon) if allowed is None else None
    while True:
        if candidates is not None:  # whole capacity: skip in C to where the heavy needs may fit
            k = candidates.next(k)
            if k < horizon and capacity[k] < need:
                k += 1
                continue
        else:  # only the allowed slots have capacity: step between them
            while pos < ends and (allowed[pos] < k or (allowed[pos] < horizon and capacity[allowed[pos]] < need)):
                pos += 1
            k = min(allowed[pos], horizon) if pos < ends else horizon
        if k >= horizon:
            return None
        if k + size > n:
            k += 1
            continue
        for i in range(size):
            if capacity[k + i] < needs[i]:
                break
        else:
            uses = [Use(k + j, at, *step) for j, (at, step) in enumerate(template)]
            if uses[-1].slot < n and all(capacity[u.slot] + EPS >= u.peak for u in uses):
                occupy(capacity, uses)
                return uses
            k += 1
            continue
        k += _skip(capacity[k + i], i, needs, smallest)


def _skip(room: float, i: int, needs: list[float], smallest: float) -> int:
    """How far a start may move on after its need i found only `room` (capacity, compared as the
    caller compares it): the next starts that would meet that slot with a need above `room` fail
    there too, and with a room below every need, all the starts that cover the slot do."""
    if room < smallest:
        return i + 1
    d = 1
    while d <= i and room < needs[i - d]:
        d += 1
    return d


def _slot_use(grid: Grid, shape, done: float, k: int) -> Use:
    length = min(grid.slot_s - (grid.lead if k == 0 else 0), shape.duration_s - done)
    return Use(k, done, length, peak_between(shape, done, done + length), energy_between(shape, done, done + length))


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
    steps = Steps(grid, shape, run)  # the same progress values come back in every attempt
    soonest = _place_slots(grid, list(capacity), shape, offset, lo, run, None, steps)
    complete = soonest and soonest[-1].offset + soonest[-1].seconds >= run.duration_s - EPS
    ranked, cost = ranking() if complete and soonest[-1].slot < end else ([], [])
    worst = max(cost[u.slot] for u in soonest) if ranked else None
    if not ranked or worst == cost[ranked[0]]:
        occupy(capacity, soonest)
        return soonest

    blank = [-math.inf] * len(capacity)

    def attempt(n: int) -> list[Use] | None:
        allowed, masked = sorted(ranked[:n]), blank[:]
        for k in allowed:
            masked[k] = capacity[k]
        first = lo if run.on_for_s is not None else max(lo, allowed[0])  # an off run waits anyway
        uses = _place_slots(grid, masked, shape, offset, first, run, allowed, steps)
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
