"""Joint placement: where a run goes by the joint cost, the others where they are. PURE.

The pass re-places a run at what it adds to the joint cost (`improve_board`), not at its cost
alone: an uninterrupted run at the feasible start of its window that adds least (earliest on
ties), a pausable run in the slots that add least for its mean energy and hold it (minimum run
and pause, its pause, capacity), or by the timetable's own rule when those do not. Neither is
placed past its deadline unless it already ends past it, nor in a slot its appliance's other
runs hold (`Board.view`); a pausable run whose best slots would start it now is not moved at all
(`best_slots`).
"""

import math

from reconcile.planner.domain import Run
from reconcile.planner.grid import EPS, footprint
from reconcile.planner.improve_board import Board
from reconcile.planner.objectives import MWH, sweep_costs, window_last_start
from reconcile.planner.placement import Pausable, Use, contiguous_uses, misfit, place_slots


def best(board: Board, run: Run, old: list[Use], now: float) -> list[Use] | None:
    """`run` (released) placed where it adds least to the joint cost; None when nowhere."""
    view = board.view(run, board.capacity)
    if run.interruptible:
        return best_slots(board, run, old, view, now)
    return best_block(board, run, old, view)


SHORT = 16  # slots: a run this short is priced start by start, its sum cut at the best so far; a longer
# one by `objectives.sweep_costs`, whose work grows with the window's price and surplus steps instead


def best_block(board: Board, run: Run, old: list[Use], view: list[float]) -> list[Use] | None:
    """The feasible start of least added cost; ties keep the old start, else go to the earliest."""
    grid, done = board.grid, old[0].offset
    last = window_last_start(grid, run, done) if old[-1].slot < board.end(run) else grid.horizon - 1
    first, rest = footprint(run.shape, done, grid.lead, grid.slot_s), footprint(run.shape, done, 0.0, grid.slot_s)
    remaining = [-x if x < 0 else 0 for x in board.excess]  # PV the movable runs leave, mWh
    k0 = old[0].slot
    # Starting a run now is the greedy pass's decision: moved into slot 0 by the pass, a run
    # would start at a tick whose budget reached that move and not at one whose budget did not.
    lo = max(grid.slot_at_or_after(run.earliest_start.timestamp()), 0 if k0 == 0 else 1)
    if len(rest[1]) <= SHORT:
        k = _scan(board, run, done, lo, last, remaining, view, k0)
    else:
        starts = start_costs(board, run, done, lo, last, remaining)
        ranked = sorted((cost, k != k0, k) for k, cost in starts.items())
        k = next((k for _c, _m, k in ranked if misfit(view, k, first[0] if k == 0 else rest[0]) is None), None)
    if k is None or k == k0:
        return None if k is None else old
    return contiguous_uses(grid, k, run.shape, done, first if k == 0 else rest)


def _scan(board: Board, run: Run, done: float, lo: int, last: int, surplus: list[int], view: list[float] | None,
          k0: int) -> int | None:
    """The start of least cost in the window (feasible in `view`, unless None): the old start `k0`
    first (its cost bounds the others and a tie keeps it), each other start's sum stopped once it
    reaches the least so far. The least cost itself when `view` is None."""
    grid, w = board.grid, board.weights
    first, rest = footprint(run.shape, done, grid.lead, grid.slot_s), footprint(run.shape, done, 0.0, grid.slot_s)
    e_first, e_rest = [round(e * MWH) for e in first[1]], [round(e * MWH) for e in rest[1]]
    stop = min(last + 1, len(w) - len(e_rest) + 1)
    board.count(run, max(0, stop - lo) + len(e_rest), tries=1 if view is not None else 0)

    def cost(k: int, bound: float) -> float:
        total = 0
        for t, e in enumerate(e_first if k == 0 else e_rest, k):
            if e > surplus[t]:
                total += w[t] * (e - surplus[t])
                if total >= bound:
                    return bound
        return total

    def fits(k: int) -> bool:
        return view is None or misfit(view, k, first[0] if k == 0 else rest[0]) is None

    found, least = (k0, cost(k0, math.inf)) if lo <= k0 < stop and fits(k0) else (None, math.inf)
    for k in range(lo, stop):
        if least == 0:
            break  # it adds nothing there: nothing is better
        if k != k0:
            c = cost(k, least)
            if c < least and fits(k):
                found, least = k, c
    return found if view is not None else (0 if least == math.inf else least)


def start_costs(board: Board, run: Run, done: float, lo: int, last: int, surplus: list[int]) -> dict[int, int]:
    """Start slot → the cost an uninterrupted run from profile `done` adds there, for the starts
    in [lo, last] that end in the grid, given the PV `surplus` left per slot (mWh);
    by `objectives.sweep_costs` (work: the window's price and surplus steps × the run's length)."""
    grid, w = board.grid, board.weights
    energies = [round(e * MWH) for e in footprint(run.shape, done, 0.0, grid.slot_s)[1]]
    last = min(last, len(w) - len(energies))
    board.count(run, max(0, last - lo + 1) + len(energies))
    costs = {}
    if lo == 0 and last >= 0:  # slot 0 is only what is left of it: its own footprint
        head = [round(e * MWH) for e in footprint(run.shape, done, grid.lead, grid.slot_s)[1]]
        costs[0] = sum(w[t] * (e - surplus[t]) for t, e in enumerate(head) if e > surplus[t])
    a = max(1, lo)
    if last >= a:
        swept = sweep_costs(energies, w[a:last + len(energies)], surplus[a:last + len(energies)], 0, last - a)
        costs.update(zip(range(a, last + 1), swept, strict=True))
    return costs


def slot_added(board: Board, run: Run, old: list[Use], view: list[float], hi: int, now: float) -> dict[int, int]:
    """Slot → what the pausable run's mean energy per slot adds there, for the slots in
    [its earliest slot, hi) it fits in (slot 0 only if it may start now)."""
    lo = board.grid.slot_at_or_after(run.earliest_start.timestamp())
    if lo == 0 and Pausable.of(run, now).off_until > now:  # its minimum pause is not over
        lo = 1
    need = max(u.peak for u in old)
    mean = round(sum(u.energy for u in old) / len(old) * MWH)
    return {k: board.added(k, mean) for k in range(lo, hi) if view[k] + EPS >= need}


def cheapest(added: dict[int, int], count: int) -> list[int]:
    """The `count` slots that add least (ties: the earlier), ascending; [] when fewer fit."""
    chosen = sorted(sorted(added, key=lambda k: (added[k], k))[:count])
    return chosen if len(chosen) == count else []


def best_slots(board: Board, run: Run, old: list[Use], view: list[float], now: float) -> list[Use] | None:
    """The cheapest slots (`slot_added`), if they hold it (minimum run and pause: with a minimum run
    of several slots they seldom do, and the stretch moves are left). None also when they would
    start it now: the pass leaves such a run where it is (planned for slot 0 it would not have
    claimed as a starter; planned for slot 1 instead, it would wait for the next slot 1 at every
    tick)."""
    hi = window_hi(board, run, old)
    added = slot_added(board, run, old, view, hi, now)
    board.count(run, hi)
    slots = cheapest(added, len(old))
    if slots and slots[0] == 0:
        return None
    return in_slots(board, run, view, slots, old[0].offset, now) if slots else None


def window_hi(board: Board, run: Run, old: list[Use]) -> int:
    """The slots a run may move into end here: its deadline (or its end, if later) and the horizon."""
    return min(board.grid.horizon, max(board.end(run), old[-1].slot + 1))


def in_slots(board: Board, run: Run, view: list[float], slots: list[int], done: float, now: float) -> list[Use] | None:
    """`run` placed slot by slot in `slots` only (its `Pausable` as `timetable._place` builds a
    waiting run's), or None when they do not hold all of it."""
    masked = [-math.inf] * len(view)
    for k in slots:
        masked[k] = view[k]
    pausable = Pausable.of(run, now)  # a waiting run: the pass moves no running one
    uses = place_slots(board.grid, masked, run.shape, done, slots[0], pausable, slots)
    if not uses or uses[-1].offset + uses[-1].seconds < run.shape.duration_s - EPS:
        return None
    return uses


def least_cost(board: Board, run: Run) -> int:
    """A lower bound of what the run can add to the joint cost anywhere, in any arrangement of
    the others: what it adds with no other movable run placed (adding load never makes a slot
    cheaper), so what it adds now above this is all any move of it can gain (its regret).

    An uninterrupted run: its best start on the plan without the movable runs. A pausable run:
    its slot count of the cheapest slots for its smallest slot's energy (its slots' energies are
    the same wherever they are: the profile is cut every slot from where it stands). 0 for a late
    run: it may move to cheaper slots later still."""
    old = board.uses[run.id]
    if old[-1].slot >= board.end(run):
        return 0
    w, s = board.weights, board.surplus
    if run.interruptible:
        smallest = round(min(u.energy for u in old) * MWH)
        costs = sorted(w[k] * (smallest - s[k]) for k in range(1, len(w)) if smallest > s[k])
        return sum(costs[:len(old)]) if len(costs) >= len(old) else 0
    done, last = old[0].offset, window_last_start(board.grid, run, old[0].offset)
    lo = board.grid.slot_at_or_after(run.earliest_start.timestamp())  # slot 0 too: a bound
    if len(old) <= SHORT:
        return _scan(board, run, done, lo, last, s, None, -1)
    return min(start_costs(board, run, done, lo, last, s).values(), default=0)
