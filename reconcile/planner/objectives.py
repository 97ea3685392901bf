"""Where inside its window a run should go, by objective. PURE; `capacity` lists updated in place.

`asap` takes the first start that fits (the thesis's rule: start now when power is free).
`cheapest` takes the start of least import cost, each kWh weighed at its price plus a millionth
(so with a flat or missing price it still prefers own PV); `solar` the start that imports least
energy (most PV surplus used). A slot's import is the run's energy above the PV still unused
there, the PV left by base load and by the runs placed before it (capacity − limit, at the
slot's worst instant).

Both look only inside the request's window (its deadline); when no start fits there, the run
starts at the first fit after it and its lateness is reported. Costs are exact integers (mWh,
millionths of the price), so equal costs are equal and ties always go to the earlier start: an
unchanged problem gives an unchanged plan, whatever slot `now` is in.

A pausable run ranks the slots of its window by the cost of its mean power there
(`slot_ranking`); `placement.place_slots_ranked` runs it in the fewest best slots that hold it.

Speed: the cost of every start in the window comes from one sweep. The cost changes from start
k to k + 1 only through the slots where the per-slot cost function changes (a price or surplus
step), so the work is (steps in the window) × (run length), not (window) × (run length).
"""

from bisect import bisect_left
from itertools import accumulate, compress, repeat
from operator import add, lt, mul, ne

from reconcile.planner.domain import Run
from reconcile.planner.grid import EPS, Grid, footprint, slot_count, slot_index
from reconcile.planner.placement import Use, contiguous_uses, first_fit, misfit, occupy

MWH = 1000  # energies as integer mWh
PRICE_UNITS = 10**6  # prices per kWh as integer millionths (small ints: fast and exact)
SPARSE = 32  # run slots from which `sweep_costs` may update only the energies above a surplus


def window_last_start(grid: Grid, run: Run, done: float) -> int:
    """The last slot a start may take and still end by the deadline (horizon's end if none)."""
    if run.latest_end is None:
        return grid.horizon - 1
    latest = run.latest_end.timestamp() - (run.shape.duration_s - done)
    return -1 if latest < grid.now else min(grid.horizon - 1, grid.slot_holding(latest + 1e-6))


def window_end(grid: Grid, run: Run) -> int:
    """Slots before this one end by the deadline (all slots of the grid if there is none)."""
    if run.latest_end is None:
        return len(grid.capacity)
    ends_by = slot_index(run.latest_end.timestamp() - grid.origin, grid.slot_s, noise=1e-9)
    return max(0, min(len(grid.capacity), ends_by))


def slot_costs(objective: str, grid: Grid, capacity: list[float], lo: int, hi: int) -> tuple[list, list]:
    """(weight, PV surplus mWh) per slot in [lo, hi): the slot's cost is weight × import."""
    scale = grid.slot_s / 3600 * MWH
    limit = grid.limit_w
    surplus = [round((c - limit) * scale) if c > limit else 0 for c in capacity[lo:hi]]
    if lo == 0 and surplus:  # slot 0 is only what is left of it
        surplus[0] = max(0, round((capacity[0] - grid.limit_w) * (grid.slot_s - grid.lead) / 3600 * MWH))
    if objective == "cheapest":
        weights = [round(p * PRICE_UNITS) + 1 for p in grid.price[lo:hi]]
    else:
        weights = [1] * (hi - lo)
    return weights, surplus


def _energies(energies: list[float]) -> list[int]:
    return [round(e * MWH) for e in energies]


def place_block_by(objective: str, grid: Grid, capacity: list[float], run: Run, done: float,
                   lo: int) -> list[Use] | None:
    """An uninterrupted run from profile `done`, at the best feasible start of its window by
    `objective` (earliest on ties), else at the first fit after the window; capacity taken."""
    first = footprint(run.shape, done, grid.lead, grid.slot_s)
    rest = footprint(run.shape, done, 0.0, grid.slot_s)
    last = window_last_start(grid, run, done)
    k = first_fit(capacity, first[0], rest[0], lo, last + 1) if lo <= last else None
    if k is None:  # no start fits inside the window: the first fit after it, late
        k = first_fit(capacity, first[0], rest[0], max(lo, last + 1), grid.horizon)
    elif k < last:  # starts before the first fit cannot fit
        k = _best_start(objective, grid, capacity, first, rest, k, last)
    if k is None:
        return None
    uses = contiguous_uses(grid, k, run.shape, done, first if k == 0 else rest)
    occupy(capacity, uses)
    return uses


def _best_start(objective, grid, capacity, first, rest, lo, last) -> int | None:
    """The feasible start in [lo, last] of least (cost, slot); `lo` fits."""
    length = max(len(first[1]), len(rest[1]))
    weights, surplus = slot_costs(objective, grid, capacity, lo, last + length + 1)
    costs = []
    if lo == 0:
        costs.append(_cost_at(_energies(first[1]), weights, surplus, 0))
    if last >= max(lo, 1):
        k1 = max(lo, 1)
        costs += sweep_costs(_energies(rest[1]), weights, surplus, k1 - lo, last - lo)
    blocked = _blocked(capacity, rest[0], lo, last)
    need = rest[0]
    heavy = sorted(range(len(need)), key=need.__getitem__, reverse=True)  # misfits show there first
    for i in sorted(range(len(costs)), key=costs.__getitem__):
        k = lo + i
        if k == 0:
            if misfit(capacity, 0, first[0]) is None:
                return 0
        elif not blocked[i] and all(capacity[k + j] + EPS >= need[j] for j in heavy):
            return k
    raise AssertionError("unreachable: the first start in the window fits")


def _blocked(capacity: list[float], need: list[float], lo: int, last: int) -> bytearray:
    """1 for each start in [lo, last] that a slot too small for even the smallest need rules out."""
    n, size = len(need), last - lo + 1
    blocked = bytearray(size)
    floor = min(need) - EPS
    for t in compress(range(lo, last + n), map(lt, capacity[lo:last + n], repeat(floor))):
        a, b = max(0, t - n + 1 - lo), min(size, t - lo + 1)
        blocked[a:b] = b"\x01" * (b - a)
    return blocked


def _cost_at(energies: list[int], weights: list[int], surplus: list[int], k: int) -> int:
    return sum(w * (e - s) for e, w, s in zip(energies, weights[k:], surplus[k:], strict=False) if e > s)


def sweep_costs(energies: list[int], weights: list[int], surplus: list[int], a: int, b: int) -> list[int]:
    """Cost of starting at each k in [a, b]: sum over j of weights[k+j] × max(0, e[j] − surplus[k+j]).

    Computed at a, then carried from k to k + 1 by the slots t in (k, k + len] whose cost function
    differs from slot t − 1's: each such step changes the cost by f_t(e[t−1−k]) − f_{t−1}(e[t−1−k]).
    """
    n, top = len(energies), max(energies, default=0)
    start = _cost_at(energies, weights, surplus, a)
    if b == a:
        return [start]
    # a slot's cost function: its weight and surplus, or "free" when the surplus covers any slot
    kinds = [(0, 0) if s >= top else (w, s) for w, s in zip(weights[a:b + n], surplus[a:b + n], strict=True)]
    steps = compress(range(a + 1, b + n), map(ne, kinds[1:], kinds[:-1]))
    delta = [0] * (b - a)  # delta[i] = cost(a + i + 1) − cost(a + i)
    backwards = energies[::-1]
    # largest energies first, and (ascending) their negatives, to count those above a surplus; a
    # short run (15-minute slots) has too few energies for the sparse update to pay
    order = sorted(range(n), key=backwards.__getitem__, reverse=True) if n >= SPARSE else []
    below = [-backwards[r] for r in order]
    for t in steps:
        (w1, s1), (w0, s0) = kinds[t - a], kinds[t - a - 1]
        i0, i1 = max(0, t - n - a), min(b - a - 1, t - 1 - a)  # starts k = a + i that see step t
        r0 = a + i0 - (t - n)  # energy index t − 1 − k, read backwards
        if s0 == s1 == 0:
            change = map(mul, backwards[r0:r0 + i1 - i0 + 1], repeat(w1 - w0))
        else:
            above = bisect_left(below, -min(s0, s1)) if order else n  # only those cost anything there
            if 3 * above < i1 - i0 + 1:
                _sparse_step(delta, backwards, order[:above], r0, i1 - i0 + 1 + r0, i0 - r0, (w0, s0, w1, s1))
                continue
            change = [(w1 * (e - s1) if e > s1 else 0) - (w0 * (e - s0) if e > s0 else 0)
                      for e in backwards[r0:r0 + i1 - i0 + 1]]
        delta[i0:i1 + 1] = map(add, delta[i0:i1 + 1], change)
    return list(accumulate(delta, initial=start))


def _sparse_step(delta: list[int], backwards: list[int], above: list[int], r0: int, r1: int, shift: int,
                 kinds: tuple[int, int, int, int]) -> None:
    """A step's change where few energies exceed the smaller surplus (the others cost nothing on
    either side of it): only those energies' starts are updated. Integers: the order of the
    additions does not matter."""
    w0, s0, w1, s1 = kinds
    for r in above:
        if r0 <= r < r1:
            e = backwards[r]
            delta[r + shift] += (w1 * (e - s1) if e > s1 else 0) - (w0 * (e - s0) if e > s0 else 0)


def slot_ranking(objective: str, grid: Grid, capacity: list[float], run: Run, done: float,
                 lo: int, end: int) -> tuple[list[int], dict[int, int]]:
    """Slots of the window [lo, end) from best to worst for a pausable run, and their costs.

    A slot's cost is that of drawing the run's mean remaining energy per slot in it; equal costs
    keep the earlier slot first.
    """
    if end <= lo:
        return [], {}
    remaining_s = run.shape.duration_s - done
    per_slot = footprint(run.shape, done, 0.0, grid.slot_s)[1]
    mean = round(sum(per_slot) / max(1, slot_count(remaining_s, grid.slot_s)) * MWH)
    weights, surplus = slot_costs(objective, grid, capacity, lo, end)
    cost = [w * (mean - s) if mean > s else 0 for w, s in zip(weights, surplus, strict=True)]
    by_slot = dict(zip(range(lo, end), cost, strict=True))
    return sorted(by_slot, key=by_slot.__getitem__), by_slot
