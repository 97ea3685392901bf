"""Joint placement: an improvement pass after the priority-ordered greedy placement. PURE.

The greedy placement places runs one at a time in claim order and never revisits them, so a
small run may take the cheap hours a long one needed. This pass, for the runs that wait (pending
or paused) under a cost objective, tries in a fixed order:

- re-insertion: take a run out and place it again by its objective, with every other run where
  it now is;
- swaps: take two runs whose windows meet out and place them again in the reverse order (the
  later claim first), so the one that needs the cheap slots most can have them.

A change is kept only when no run it touches becomes less whole or later (so nobody served
before is left out: priorities still decide who is served when not everything fits) and the
runs' cost, each priced given all the others, goes down: by any amount for runs the newest tick
had not planned, by a real gain (`incumbent.worth_moving`) for a run leaving its incumbent. Work
is bounded by counts (`MAX_ROUNDS`, `PARTNERS`, `WORK_PER_RUN`, `MAX_WORK_SLOTS`), never by a clock, so the result
is a function of the snapshot and `now` alone.
"""

from collections.abc import Callable
from dataclasses import dataclass

from reconcile.planner.domain import Run
from reconcile.planner.grid import Grid
from reconcile.planner.incumbent import no_worse, real_gain, uses_cost, weight
from reconcile.planner.placement import Use, occupy
from reconcile.planner.priority import claim_order

# Work bounds, counted in placements tried (each costs about one greedy placement), never time:
# chosen on bench/gap.py's scenarios (BENCHMARKS.md).
MAX_ROUNDS = 2  # passes over all runs; a pass that changes nothing ends it
PARTNERS = 4  # swap partners tried per run: the nearest in claim order whose windows meet
WORK_PER_RUN = 10  # placements tried per movable run, all rounds together ...
# ... and at most this much in all, counted in window slots (a placement scans its run's window):
# 20 runs of 15-minute slots over 48 h get their 10 tries each; 1-minute slots or a thousand runs
# get as many as this allows, so the pass adds a bounded amount of work to a tick.
MAX_WORK_SLOTS = 30_000


@dataclass
class Board:
    """The greedy plan being improved: capacity and uses are the timetable's own, changed in place."""

    grid: Grid
    capacity: list[float]
    uses: dict[int, list[Use]]
    place: Callable[[Run, list[float]], list[Use] | None]  # a fresh placement on a copy; takes nothing
    objective: Callable[[Run], str]
    end: Callable[[Run], int]  # the first slot past the run's deadline
    incumbent: dict[int, list[int]]
    tries: int = 0  # placements tried
    work: int = 0  # slots up to the deadlines of the runs placed (about what the placements scan)

    def count(self, *runs: Run) -> None:
        self.tries += len(runs)
        self.work += sum(max(1, self.end(run)) for run in runs)  # the window up to its deadline

    def cost(self, run: Run, uses: list[Use]) -> int:
        return uses_cost(self.objective(run), self.grid, self.capacity, uses)

    def release(self, run: Run) -> list[Use]:
        old = self.uses[run.id]
        for use in old:
            self.capacity[use.slot] += use.peak
        return old

    def take(self, run: Run, uses: list[Use]) -> None:
        occupy(self.capacity, uses)
        self.uses[run.id] = uses


CLOSED = -1e12  # W: a slot another run of the same appliance holds (as in `timetable`)


def improve_timetable(grid: Grid, capacity: list[float], uses: dict[int, list[Use]], runs, now: float,
                      home_objective: str, incumbent: dict[int, list[int]], place, end) -> None:
    """Improve the greedy timetable in place: `place(run, capacity)` is the timetable's own fresh
    placement of a run by its objective; `end(run)` the first slot past its deadline."""
    objective = {run.id: run.objective or home_objective for run in runs}
    # A run planned past the horizon is not settled (each tick shows it one more slot): the pass
    # neither moves it nor moves others around it, or plans would follow the horizon back and forth.
    # A pausable run planned to start now claimed its stretch as a starter (`timetable._claims`):
    # re-placed by cost, it could plan a pause the running run will not make at the next tick.
    movable = sorted((r for r in runs if uses.get(r.id) and r.state != "running" and objective[r.id] != "asap"
                      and uses[r.id][-1].slot < grid.horizon and not (r.interruptible and uses[r.id][0].slot == 0)),
                     key=lambda r: claim_order(r, now))
    if len(movable) < 2:
        return
    same: dict[str, list[int]] = {}
    for run in runs:
        same.setdefault(run.appliance, []).append(run.id)

    def fresh(run: Run, free: list[float]) -> list[Use] | None:
        taken = {u.slot for other in same[run.appliance] if other != run.id for u in uses.get(other, ())}
        return place(run, [CLOSED if k in taken else c for k, c in enumerate(free)] if taken else list(free))

    board = Board(grid, capacity, uses, fresh, lambda r: objective[r.id], end, incumbent)
    improve(board, movable)


def improve(board: Board, movable: list[Run]) -> None:
    """Move and swap the `movable` runs (in claim order) while it lowers their cost; see the module."""
    tries, budget = WORK_PER_RUN * len(movable), MAX_WORK_SLOTS
    for _round in range(MAX_ROUNDS):
        changed = False
        for i, run in enumerate(movable):
            if board.tries >= tries or board.work >= budget:
                return
            changed |= _reinsert(board, run)
            for other in _partners(board, movable, i):
                if board.tries >= tries or board.work >= budget:
                    return
                changed |= _swap(board, run, other)
        if not changed:
            return


def _partners(board: Board, movable: list[Run], i: int) -> list[Run]:
    """Up to PARTNERS later runs whose planned slots come within the other's window."""
    run, found = movable[i], []
    mine = board.uses[run.id]
    a, b = mine[0].slot, mine[-1].slot
    for other in movable[i + 1:]:
        if other.appliance == run.appliance:  # one cycle at a time: the pair would not see each other
            continue
        theirs = board.uses[other.id]
        if theirs[0].slot <= max(b, board.end(run)) and a <= max(theirs[-1].slot, board.end(other)):
            found.append(other)
            if len(found) == PARTNERS:
                break
    return found


def _reinsert(board: Board, run: Run) -> bool:
    old = board.release(run)
    before = board.cost(run, old)
    board.count(run)
    new = board.place(run, board.capacity)
    if new and _better(board, [(run, old, new)], before, board.cost(run, new)):
        board.take(run, new)
        return True
    board.take(run, old)
    return False


def _swap(board: Board, first: Run, second: Run) -> bool:
    """`second` placed before `first`, both given everything else; kept if it gains."""
    old_first, old_second = board.release(first), board.release(second)
    before = board.cost(first, old_first)
    occupy(board.capacity, old_first)
    before += board.cost(second, old_second)
    board.release(first)
    board.count(first, second)
    new_second = board.place(second, board.capacity)
    new_first, after = None, 0
    if new_second:
        after = board.cost(second, new_second)
        occupy(board.capacity, new_second)
        new_first = board.place(first, board.capacity)
        after += board.cost(first, new_first) if new_first else 0
        for use in new_second:
            board.capacity[use.slot] += use.peak
    moves = [(first, old_first, new_first), (second, old_second, new_second)]
    if new_first and new_second and _better(board, moves, before, after):
        board.take(second, new_second)
        board.take(first, new_first)
        return True
    board.take(first, old_first)
    board.take(second, old_second)
    return False


def _better(board: Board, moves: list[tuple[Run, list[Use], list[Use]]], before: int, after: int) -> bool:
    """No run less whole or later, and a gain: any for new runs, a real one to leave an incumbent."""
    changed = [(run, old, new) for run, old, new in moves if [u.slot for u in old] != [u.slot for u in new]]
    if not changed or after >= before:
        return False
    if not all(no_worse(new, old, board.end(run)) for run, old, new in changed):
        return False
    leaving = [(run, old) for run, old, _new in changed if run.id in board.incumbent]
    if not leaving:
        return True
    return real_gain(before, after, min(weight(board.objective(run), board.grid, use.slot)
                                        for run, old in leaving for use in old))
