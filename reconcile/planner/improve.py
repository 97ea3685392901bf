"""Joint placement: an improvement pass after the priority-ordered greedy placement. PURE.

The greedy placement places runs one at a time in claim order and never revisits them, so a
small run may take the cheap hours a long one needed. This pass, for the runs that wait (pending
or paused) under a cost objective, prices them together (`improve_board`: PV shared by several
runs counted once) and tries in a fixed order, per run in claim order:

- stretch moves for a pausable run: one of its slots exchanged for a cheaper one
  (`improve_stretch`);
- re-insertion: the run taken out and placed again where it adds least to the joint cost, every
  other run where it now is (`improve_place`);
- swaps: two runs whose windows meet taken out and placed again in the reverse order (the later
  claim first), so the one that needs the cheap slots most can have them.

A change is kept only when no run it touches becomes less whole or later (so nobody served
before is left out: priorities still decide who is served when not everything fits) and the
joint cost goes down: by any amount for runs the newest tick had not planned, by a real gain
(`incumbent.real_gain`) for a run leaving its incumbent (`improve_board.settle`).

Moves that cannot gain are not tried: a run's regret (what it adds now above the least it can
add anywhere, `improve_place.least_cost`) bounds what any move of it gains, so a move whose runs'
regrets add up to no more than the gain it must make is skipped; so is a move tried before with
nothing it can see changed since (`Board.stale`). Work is bounded by counts (`MAX_ROUNDS`,
`PARTNERS`, `WORK_PER_RUN`, `MAX_WORK_SLOTS`), never by a clock, so the result is a function of
the snapshot and `now` alone.
"""

from reconcile.planner.domain import Run
from reconcile.planner.grid import Grid
from reconcile.planner.improve_board import Board, settle
from reconcile.planner.improve_place import best, least_cost
from reconcile.planner.improve_stretch import restack
from reconcile.planner.placement import Use, closed
from reconcile.planner.priority import claim_order

# Work bounds, counted in placements tried and slots scanned, never time: chosen on
# bench/gap.py's scenarios and bench/plan_bench.py's cases (BENCHMARKS.md).
MAX_ROUNDS = 4  # passes over all runs; a pass that changes nothing ends it
PARTNERS = 4  # swap partners tried per run: the nearest later claims whose windows meet
WORK_PER_RUN = 3  # placements tried per movable run, all rounds together ...
# ... and at most this many slots scanned in all (a placement scans its window, a block run's
# window times its length): 1-minute slots or a thousand runs get as many tries as this allows,
# so the pass adds a bounded amount of work to a tick.
MAX_WORK_SLOTS = 30_000


def improve_timetable(grid: Grid, capacity: list[float], uses: dict[int, list[Use]], runs, now: float,
                      home_objective: str, incumbent: dict[int, list[int]], end) -> None:
    """Improve the greedy timetable in place; `end(run)` is the first slot past its deadline. The
    pass places runs by the joint cost (`improve_place`), not by each run's own objective."""
    objective = {run.id: run.objective or home_objective for run in runs}
    same: dict[str, list[int]] = {}
    for run in runs:
        same.setdefault(run.appliance, []).append(run.id)

    def view(run: Run, free: list[float]) -> list[float]:
        taken = {u.slot for other in same[run.appliance] if other != run.id for u in uses.get(other, ())}
        return closed(free, taken) if taken else list(free)

    ends: dict[int, int] = {}

    def end_of(run: Run) -> int:  # asked for often: remembered
        if run.id not in ends:
            ends[run.id] = end(run)
        return ends[run.id]

    waiting = [r for r in runs if objective[r.id] != "asap" and _movable(grid, uses, r)]
    ordered = sorted(waiting, key=lambda r: claim_order(r, now))
    for cost in ("cheapest", "solar"):  # priced together: the runs of one objective (others stay put)
        movable = [r for r in ordered if objective[r.id] == cost]
        if movable:
            improve(Board(grid, capacity, uses, view, cost, end_of, incumbent, movable), now)


def _movable(grid: Grid, uses: dict[int, list[Use]], run: Run) -> bool:
    """Whether the pass may move the run. A run planned past the horizon is not settled (each
    tick shows it one more slot): the pass neither moves it nor moves others around it, or plans
    would follow the horizon back and forth. A pausable run planned to start now claimed its
    stretch as a starter (`timetable._claims`): re-placed by cost, it could plan a pause the
    running run will not make at the next tick."""
    planned = uses.get(run.id)
    return bool(planned) and run.state != "running" and planned[-1].slot < grid.horizon and not (
        run.interruptible and planned[0].slot == 0)


def improve(board: Board, now: float) -> None:
    """Move and swap the movable runs while it lowers the joint cost; see the module. Each round
    takes the runs by regret, the largest first (then claim order), so a bounded amount of work
    goes first where the most can be gained; its swap partners likewise."""
    movable = board.movable
    rank = {run.id: i for i, run in enumerate(movable)}  # claim order
    tries, budget = WORK_PER_RUN * len(movable), MAX_WORK_SLOTS
    # Ranking every run by regret scans every window once: worth it while that is a small part of
    # the budget; with many runs or long windows they go in claim order, each regret as it comes.
    ranked = sum(board.end(run) for run in movable) <= budget // 4
    for _round in range(MAX_ROUNDS):
        changed = False
        regret = {run.id: _regret(board, run) if ranked else 0 for run in movable}
        for run in sorted(movable, key=lambda r: (-regret[r.id], rank[r.id])):
            if board.tries >= tries or board.work >= budget:
                return
            if run.interruptible and not board.stale(("stretch", run.id), run):
                changed |= restack(board, run, now)
            if _regret(board, run) > board.needed(run) and not board.stale(("move", run.id), run):
                changed |= _reinsert(board, run, now)
            for other in _partners(board, movable, run, regret):
                if board.tries >= tries or board.work >= budget:
                    return
                first, second = sorted((run, other), key=lambda r: rank[r.id])  # the later claim goes first
                if (_regret(board, run) + _regret(board, other) > board.needed(run, other)
                        and not board.stale(("swap", first.id, second.id), run, other)):
                    changed |= _swap(board, first, second, now)
        if not changed:
            return


def _regret(board: Board, run: Run) -> int:
    """What the run adds above the least it can add anywhere: a bound on what moving it gains."""
    if run.id not in board.alone:
        board.alone[run.id] = least_cost(board, run)
    return board.marginal(run) - board.alone[run.id]


def _partners(board: Board, movable: list[Run], run: Run, regret: dict[int, int]) -> list[Run]:
    """Up to PARTNERS other runs, the largest regret first, whose planned slots come within the
    other's window (another appliance: one cycle at a time, the pair would not see each other)."""
    mine = board.uses[run.id]
    a, b = mine[0].slot, mine[-1].slot
    found = [other for other in movable if other.appliance != run.appliance
             and board.uses[other.id][0].slot <= max(b, board.end(run))
             and a <= max(board.uses[other.id][-1].slot, board.end(other))]
    return sorted(found, key=lambda other: -regret[other.id])[:PARTNERS]


def _reinsert(board: Board, run: Run, now: float) -> bool:
    old = board.release(run)
    return settle(board, [(run, old, best(board, run, old, now))])


def _swap(board: Board, first: Run, second: Run, now: float) -> bool:
    """`second` placed before `first`, both given everything else; kept if it gains."""
    old_first, old_second = board.release(first), board.release(second)
    new_second = best(board, second, old_second, now)
    wanted = {u.slot for u in old_first}
    if new_second is None or not any(u.slot in wanted for u in new_second):
        # Outside `first`'s slots it costs what it costs with `first` there: this is no more than
        # the two runs' own re-insertions, tried apart.
        board.take(first, old_first)
        board.take(second, old_second)
        return False
    board.take(second, new_second)
    new_first = best(board, first, old_first, now)
    board.release(second)
    return settle(board, [(first, old_first, new_first), (second, old_second, new_second)])
