"""Joint placement: the plan being improved and what it costs, priced jointly. PURE.

The greedy placement prices a run alone, given the runs before it: a slot's PV surplus is what
the others' peaks leave, so two runs sharing one slot's surplus are each priced as if the other
took it all. The pass prices the movable runs together instead, as the bill does: per slot,
weight × max(0, energy of the movable runs − the surplus left by the house and the runs that do
not move), in the objectives' integer units (`objectives.slot_costs`; `solar`: weight 1). A
move's gain is that cost's change over the slots it touches, so PV shared by several runs is
counted once.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from reconcile.planner.domain import Run
from reconcile.planner.grid import Grid
from reconcile.planner.incumbent import MIN_GAIN_WH, deadline, no_worse, real_gain
from reconcile.planner.objectives import MWH, slot_costs
from reconcile.planner.placement import Use


@dataclass
class Board:
    """The greedy plan being improved: capacity and uses are the timetable's own, changed in place."""

    grid: Grid
    capacity: list[float]  # W left per slot (peaks): what decides whether a run fits
    uses: dict[int, list[Use]]
    view: Callable[[Run, list[float]], list[float]]  # the capacity as the run may use it (slots closed)
    objective: str
    end: Callable[[Run], int]  # the first slot past the run's deadline
    incumbent: dict[int, list[int]]
    movable: list[Run]
    tries: int = 0  # placements tried
    work: int = 0  # slots scanned, about
    weights: list[int] = field(default_factory=list)  # per slot: a mWh imported costs this
    surplus: list[int] = field(default_factory=list)  # per slot: mWh of PV no run that stays put uses
    excess: list[int] = field(default_factory=list)  # per slot: mWh the movable runs draw above `surplus`
    free: list[float] = field(default_factory=list)  # the capacity with no movable run placed
    alone: dict[int, int] = field(default_factory=dict)  # run id → its least cost (`improve_place.least_cost`)
    version: int = 0  # moves kept so far ...
    changed: list[int] = field(default_factory=list)  # ... and, per slot, how many when it last changed
    tried: dict[tuple, int] = field(default_factory=dict)  # a move → `version` when it was last tried

    def __post_init__(self) -> None:
        self.free = list(self.capacity)
        for run in self.movable:
            for use in self.uses[run.id]:
                self.free[use.slot] += use.peak
        self.weights, self.surplus = slot_costs(self.objective, self.grid, self.free, 0, len(self.free))
        self.excess = [-s for s in self.surplus]
        for run in self.movable:
            for use in self.uses[run.id]:
                self.excess[use.slot] += round(use.energy * MWH)
        self.changed = [0] * len(self.capacity)

    def count(self, run: Run, slots: int | None = None, *, tries: int = 1) -> None:
        """`tries` placements of `run` tried, scanning its window (or `slots` slots)."""
        self.tries += tries
        self.work += max(1, self.end(run)) if slots is None else slots

    def release(self, run: Run) -> list[Use]:
        old = self.uses[run.id]
        for use in old:
            self.capacity[use.slot] += use.peak
            self.excess[use.slot] -= round(use.energy * MWH)
        return old

    def take(self, run: Run, uses: list[Use]) -> None:
        for use in uses:
            self.capacity[use.slot] -= use.peak
            self.excess[use.slot] += round(use.energy * MWH)
        self.uses[run.id] = uses

    def slots_cost(self, slots) -> int:
        """The movable runs' import cost in `slots`, as placed now."""
        w, x = self.weights, self.excess
        return sum(w[k] * x[k] for k in slots if x[k] > 0)

    def added(self, k: int, mwh: int) -> int:
        """What `mwh` more drawn in slot k adds to the cost (never negative, never less with more load)."""
        x = self.excess[k]
        return self.weights[k] * (max(0, x + mwh) - max(0, x))

    def marginal(self, run: Run) -> int:
        """What the run adds to the cost where it is, given all the others."""
        w, x = self.weights, self.excess
        cost = 0
        for use in self.uses[run.id]:
            k = use.slot
            cost += w[k] * (max(0, x[k]) - max(0, x[k] - round(use.energy * MWH)))
        return cost

    def needed(self, *runs: Run) -> int:
        """A lower bound of the gain a move of `runs` must make: 0, or for runs leaving their
        incumbent the real gain's floor at their cheapest slot (`incumbent.real_gain`)."""
        weights = [self.weights[u.slot] for run in runs if run.id in self.incumbent for u in self.uses[run.id]]
        return round(MIN_GAIN_WH * MWH * min(weights)) if weights else 0

    def kept(self, *placements: list[Use]) -> None:
        """A move was kept: the slots of the runs' old and new placements changed."""
        self.version += 1
        for uses in placements:
            for use in uses:
                self.changed[use.slot] = self.version

    def stale(self, key: tuple, *runs: Run) -> bool:
        """True when the move `key` of `runs` was tried and nothing it can see changed since:
        it would fail again. A run on time can only move inside its window (no move makes it
        later), so it sees its window and its footprint past it; a late run sees every slot."""
        last = self.tried.get(key)
        self.tried[key] = self.version
        if last is None:
            return False
        for run in runs:
            uses = self.uses[run.id]
            end = self.end(run)
            hi = len(self.changed) if uses[-1].slot >= end else min(len(self.changed), end + len(uses) + 1)
            lo = self.grid.slot_at_or_after(run.earliest_start.timestamp())
            if max(self.changed[lo:hi], default=-1) > last:
                return False
        return True


def settle(board: Board, moves: list[tuple[Run, list[Use], list[Use] | None]]) -> bool:
    """Keep the new placements of a move (its runs released now) when the pass's rule holds, else
    put the old ones back: no run less whole or later, and the joint cost lower, by a real gain
    (`incumbent.real_gain`, on what the runs leaving their incumbent cost) when one leaves its
    incumbent. True when kept."""
    changed = [(run, old, new) for run, old, new in moves if new is None or _slots(old) != _slots(new)]
    if not changed or not all(no_worse(new, old, board.grid, deadline(run)) for run, old, new in changed):
        _put(board, [(run, old) for run, old, _new in moves])
        return False
    touched = {u.slot for _run, old, new in moves for u in (*old, *new)}
    _put(board, [(run, old) for run, old, _new in moves])
    before, paid = board.slots_cost(touched), sum(board.marginal(run) for run, _old, _new in changed)
    for run, _old, _new in moves:
        board.release(run)
    _put(board, [(run, new) for run, _old, new in moves])
    gain = before - board.slots_cost(touched)
    leaving = [u for run, old, _new in changed if run.id in board.incumbent for u in old]
    if gain > 0 and (not leaving or real_gain(paid, paid - gain, min(board.weights[u.slot] for u in leaving))):
        board.kept(*(old for _run, old, _new in changed), *(new for _run, _old, new in changed))
        return True
    for run, _old, _new in moves:
        board.release(run)
    _put(board, [(run, old) for run, old, _new in moves])
    return False


def _put(board: Board, placements) -> None:
    for run, uses in placements:
        board.take(run, uses)


def _slots(uses: list[Use]) -> list[int]:
    return [u.slot for u in uses]
