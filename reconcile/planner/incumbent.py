"""The previous tick's plan as the incumbent of the cost objectives. PURE; `capacity` lists updated in place.

A run with a cost objective (`cheapest`, `solar`) keeps the slots the newest tick planned it in
(`Snapshot.previous`, the timetable in the database) while they still hold it, and moves to the
placement its objective prefers now only for a real gain: the move must save more than
`REL_GAIN` of the incumbent's cost and more than `MIN_GAIN_WH` of energy at the incumbent's
cheapest price (docs/objectives.md, "Stability"). The incumbent is also dropped when it is no
longer whole, or later than the new placement. So with no new input, a planned start changes only
when the slots it had are gone or a clearly better plan appears, never back and forth over ties
and rounding. `asap` needs no incumbent: its first fit is stable by itself.

The real-gain move is never made here: a run keeps its incumbent in the greedy pass while it is
whole and no later, and the joint placement (`improve`) moves it for a real gain with the runs
priced together; a running pausable run's rest is moved there too, as the paused run it will be
(`timetable._improve`). Were a run moved here for its own gain, the greedy pass (pricing it
before the runs that claim after it, their slots still free) would undo the joint pass's moves
at every other tick and planned starts would go back and forth (found by the stability property
for waiting runs, then for running ones).
"""

import math

from reconcile.planner.domain import Placement
from reconcile.planner.grid import EPS, Grid, footprint
from reconcile.planner.objectives import MWH, place_block_by
from reconcile.planner.placement import Pausable, Use, contiguous_uses, misfit, occupy, place_slots, place_slots_ranked

REL_GAIN = 0.02  # a move must save over 2 % of the incumbent's cost ...
MIN_GAIN_WH = 20.0  # ... and over 20 Wh at the incumbent's cheapest price (solar: 20 Wh of import)


def incumbent_slots(grid: Grid, previous: tuple[Placement, ...]) -> dict[int, list[int]]:
    """Execution id → the slots of this grid that its previous placement covers (from `now` on)."""
    slots: dict[int, list[int]] = {}
    for placement in previous:
        covered = []
        for segment in placement.segments:
            a, b = segment.start.timestamp(), segment.end.timestamp()
            if b <= grid.now + EPS:
                continue
            first = 0 if a <= grid.now + EPS else grid.slot_holding(a + EPS)
            last = min(len(grid.capacity) - 1, grid.slot_holding(b - EPS))
            covered.extend(range(first, last + 1))
        if covered:
            slots[placement.execution_id] = covered
    return slots


def real_gain(before: int, after: int, cheapest_weight: int) -> bool:
    """The rule: a cost `before` lowered to `after` by over REL_GAIN of it and over MIN_GAIN_WH at
    `cheapest_weight` (the incumbent's cheapest slot)."""
    return before - after > max(REL_GAIN * before, MIN_GAIN_WH * MWH * cheapest_weight)


def no_worse(kept: list[Use] | None, fresh: list[Use] | None, grid: Grid, due: float | None) -> bool:
    """The incumbent is as whole and as timely as the new placement (then cost decides); `due` is
    the run's deadline (epoch seconds, None for none)."""
    if not kept:
        return False
    if not fresh:
        return True
    kept_done, fresh_done = kept[-1].offset + kept[-1].seconds, fresh[-1].offset + fresh[-1].seconds
    if kept_done < fresh_done - EPS:
        return False
    return overrun(grid, kept, due) <= overrun(grid, fresh, due) + EPS


def overrun(grid: Grid, uses: list[Use], due: float | None) -> float:
    """Seconds the placement ends after `due`. By the instant, not by whole slots: a run started
    now ends mid-slot, and one moved to the next boundary may end past its deadline in the same
    slot (12 s late, found by test_improve's property)."""
    if due is None:
        return 0.0
    return max(0.0, grid.start_of(uses[-1].slot) + uses[-1].seconds - due)


def deadline(run) -> float | None:
    """A run's deadline in epoch seconds, or None."""
    return run.latest_end.timestamp() if run.latest_end is not None else None


def keep_block(objective: str, grid: Grid, capacity: list[float], run, done: float, lo: int,
               slots: list[int]) -> list[Use] | None:
    """`place_block_by`, but an uninterrupted run stays at its incumbent start while it fits there
    and is no later (see the module); capacity taken."""
    fresh = place_block_by(objective, grid, list(capacity), run, done, lo)
    k = slots[0]
    kept = None
    if k >= lo and k < grid.horizon and (not fresh or fresh[0].slot != k):
        peaks, energies = footprint(run.shape, done, grid.lead if k == 0 else 0.0, grid.slot_s)
        if k + len(peaks) <= len(capacity) and misfit(capacity, k, peaks) is None:
            kept = contiguous_uses(grid, k, run.shape, done, (peaks, energies))
    chosen = fresh
    if no_worse(kept, fresh, grid, deadline(run)):
        chosen = kept
    if chosen:
        occupy(capacity, chosen)
    return chosen


def keep_slots(grid: Grid, capacity: list[float], shape, done: float, lo: int, run: Pausable,
               ranking, end: int, slots: list[int], due: float | None) -> list[Use]:
    """`place_slots_ranked`, but a pausable run keeps its incumbent slots while they still hold
    the rest of it no later (see the module); capacity taken."""
    fresh = place_slots_ranked(grid, list(capacity), shape, done, lo, run, ranking, end)
    masked = [-math.inf] * len(capacity)
    for k in slots:
        if k >= lo:
            masked[k] = capacity[k]
    kept = place_slots(grid, masked, shape, done, lo, run, sorted({k for k in slots if k >= lo}))
    chosen = fresh
    if no_worse(kept, fresh, grid, due):
        chosen = kept
    occupy(capacity, chosen)
    return chosen
