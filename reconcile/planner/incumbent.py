"""The previous tick's plan as the incumbent of the cost objectives. PURE; `capacity` lists updated in place.

A run with a cost objective (`cheapest`, `solar`) keeps the slots the newest tick planned it in
(`Snapshot.previous`, the timetable in the database) while they still hold it, and moves to the
placement its objective prefers now only for a real gain: the move must save more than
`REL_GAIN` of the incumbent's cost and more than `MIN_GAIN_WH` of energy at the incumbent's
cheapest price (docs/objectives.md, "Stability"). The incumbent is also dropped when it is no
longer whole, or later than the new placement. So with no new input, a planned start changes only
when the slots it had are gone or a clearly better plan appears, never back and forth over ties
and rounding. `asap` needs no incumbent: its first fit is stable by itself.

The real-gain move is made here for a running run only. A waiting run keeps its incumbent here
while it is whole and no later; the joint placement (`improve`) moves it for a real gain with all
the waiting runs priced together. Were it moved here for its own gain, the greedy pass (placing
it before the runs that claim after it, their slots still free) would undo the joint pass's
swaps at every other tick and planned starts would go back and forth.
"""

import math

from reconcile.planner.domain import Placement
from reconcile.planner.grid import EPS, Grid, footprint
from reconcile.planner.objectives import MWH, PRICE_UNITS, place_block_by
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


def uses_cost(objective: str, grid: Grid, capacity: list[float], uses: list[Use]) -> int:
    """The objective's cost of `uses` (integer, as in `objectives`) before they take capacity."""
    total = 0
    for use in uses:
        k = use.slot
        seconds = grid.slot_s - (grid.lead if k == 0 else 0)
        surplus = max(0, round((capacity[k] - grid.limit_w) * seconds / 3600 * MWH))
        energy = round(use.energy * MWH)
        if energy > surplus:
            total += weight(objective, grid, k) * (energy - surplus)
    return total


def weight(objective: str, grid: Grid, k: int) -> int:
    """What a mWh imported in slot k costs, in the objective's integer units."""
    return round(grid.price[k] * PRICE_UNITS) + 1 if objective == "cheapest" else 1


def worth_moving(objective: str, grid: Grid, capacity: list[float], kept: list[Use], fresh: list[Use]) -> bool:
    """True when `fresh` saves enough over the incumbent `kept` to move (the module's rule)."""
    before, after = uses_cost(objective, grid, capacity, kept), uses_cost(objective, grid, capacity, fresh)
    return real_gain(before, after, min(weight(objective, grid, u.slot) for u in kept))


def real_gain(before: int, after: int, cheapest_weight: int) -> bool:
    """The rule: a cost `before` lowered to `after` by over REL_GAIN of it and over MIN_GAIN_WH at
    `cheapest_weight` (the incumbent's cheapest slot)."""
    return before - after > max(REL_GAIN * before, MIN_GAIN_WH * MWH * cheapest_weight)


def no_worse(kept: list[Use] | None, fresh: list[Use] | None, end: int) -> bool:
    """The incumbent is as whole and as timely as the new placement (then cost decides)."""
    if not kept:
        return False
    if not fresh:
        return True
    kept_done, fresh_done = kept[-1].offset + kept[-1].seconds, fresh[-1].offset + fresh[-1].seconds
    if kept_done < fresh_done - EPS:
        return False
    return max(0, kept[-1].slot + 1 - end) <= max(0, fresh[-1].slot + 1 - end)


def keep_block(objective: str, grid: Grid, capacity: list[float], run, done: float, lo: int, slots: list[int],
               end: int) -> list[Use] | None:
    """`place_block_by`, but an uninterrupted run stays at its incumbent start while it fits there
    (and, were it running, while moving gains too little: see the module); capacity taken."""
    fresh = place_block_by(objective, grid, list(capacity), run, done, lo)
    k = slots[0]
    kept = None
    if k >= lo and k < grid.horizon and (not fresh or fresh[0].slot != k):
        peaks, energies = footprint(run.shape, done, grid.lead if k == 0 else 0.0, grid.slot_s)
        if k + len(peaks) <= len(capacity) and misfit(capacity, k, peaks) is None:
            kept = contiguous_uses(grid, k, run.shape, done, (peaks, energies))
    chosen = fresh
    if no_worse(kept, fresh, end) and (run.state != "running" or not (fresh and worth_moving(
            objective, grid, capacity, kept, fresh))):
        chosen = kept
    if chosen:
        occupy(capacity, chosen)
    return chosen


def keep_slots(objective: str, grid: Grid, capacity: list[float], shape, done: float, lo: int, run: Pausable,
               ranking, end: int, slots: list[int]) -> list[Use]:
    """`place_slots_ranked`, but a pausable run keeps its incumbent slots while they still hold
    the rest of it (and, when running, while moving gains too little: see the module); capacity taken."""
    fresh = place_slots_ranked(grid, list(capacity), shape, done, lo, run, ranking, end)
    masked = [-math.inf] * len(capacity)
    for k in slots:
        if k >= lo:
            masked[k] = capacity[k]
    kept = place_slots(grid, masked, shape, done, lo, run, sorted({k for k in slots if k >= lo}))
    chosen = fresh
    if no_worse(kept, fresh, end) and (run.on_for_s is None or not (fresh and worth_moving(
            objective, grid, capacity, kept, fresh))):
        chosen = kept
    occupy(capacity, chosen)
    return chosen
