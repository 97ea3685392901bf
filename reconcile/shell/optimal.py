"""The exact reference planner run by HiGHS (`highspy`): the solver's side of `planner.exact`.

Optional (`pip install 'wattplan[optimal]'`); imported lazily. Same inputs and outputs as the
greedy `build_timetable`, so `timetable_optimal` can stand in for it and `plan_optimal` for
`plan.plan`. The model is built and decoded by the pure `reconcile.planner.exact`; this module
runs the solver, quiets its banner on stdout and times it.

The greedy plan is the solve's start (HiGHS `setSolution`: every plan it searches must beat it)
and its fallback: a solve is stopped after `time_limit_s` with the best plan found so far, and
the greedy plan is returned instead whenever the exact one is not better by `plan_rank` (fewer
runs left out, less energy short or missed, less lateness, then a lower `plan_cost`), or no plan
was found. So the exact planner never returns a plan worse than the greedy one. Planning time
is not deterministic under a time limit; the plan is when the solve ends by optimality.
"""

import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from reconcile.errors import ReconcileError
from reconcile.planner.domain import Placement, Plan, Run, Snapshot, Unplaced
from reconcile.planner.exact import Model, build_model, decode, plan_cost
from reconcile.planner.exact_start import start_violations, warm_start
from reconcile.planner.grid import Grid
from reconcile.planner.plan import plan
from reconcile.planner.timetable import build_timetable

__all__ = ["Solution", "plan_cost", "plan_optimal", "require_solver", "solve", "timetable_optimal"]

TIME_LIMIT_S = 10.0
# Proven optimal means within this much (currency) of the best bound: a tenth of a cent. The
# objective's tie-breaks (planner.exact: energy imported, priority-weighted delay) sum to less,
# so they order equal-cost plans without the solver having to prove their order.
ABS_GAP = 1e-3
INSTALL = "install the optimal extra: pip install 'wattplan[optimal]'"


@dataclass(frozen=True, slots=True)
class Solution:
    placements: tuple[Placement, ...]
    unplaced: tuple[Unplaced, ...]
    grid: Grid
    status: str  # optimal | time limit (incumbent) | greedy fallback: WHY
    seconds: float  # model building and solving
    variables: int
    gap: float | None = None  # HiGHS's relative gap between the plan and its bound when it stopped
    start_held: bool | None = None  # the greedy start met the model's rows (else HiGHS searched without it)


def plan_optimal(snapshot: Snapshot, now: datetime, *, time_limit_s: float = TIME_LIMIT_S) -> Plan:
    """`plan.plan` with the exact timetable: finish, prioritise, place optimally, decide."""
    return plan(snapshot, now, timetable=partial(timetable_optimal, time_limit_s=time_limit_s))


def timetable_optimal(snapshot: Snapshot, runs: tuple[Run, ...], now: float, *,
                      time_limit_s: float = TIME_LIMIT_S):
    """Drop-in for `build_timetable`: (placements, unplaced, grid)."""
    solution = solve(snapshot, runs, now, time_limit_s=time_limit_s)
    return solution.placements, solution.unplaced, solution.grid


def require_solver():
    """The highspy module, or a one-line error saying how to install it."""
    try:
        import highspy
    except ImportError:
        raise ReconcileError(INSTALL) from None
    return highspy


def solve(snapshot: Snapshot, runs: tuple[Run, ...], now: float, *,
          time_limit_s: float = TIME_LIMIT_S) -> Solution:
    """The optimal timetable and how it was found. Raises ReconcileError without highspy."""
    highspy = require_solver()
    started = time.perf_counter()
    greedy, greedy_unplaced, _grid = build_timetable(snapshot, runs, now)
    model = build_model(snapshot, runs, now)
    start = warm_start(model, greedy)
    held = not start_violations(model, start)
    values, status, gap = _run_highs(highspy, model, time_limit_s, start)
    if values is not None:
        placements, unplaced = decode(model, runs, values)
        if plan_rank(snapshot, now, runs, placements, unplaced) <= plan_rank(snapshot, now, runs, greedy,
                                                                             greedy_unplaced):
            return Solution(placements, unplaced, model.grid, status, time.perf_counter() - started,
                            len(model.cost), gap, held)
        status = f"{status}, not better than the greedy plan"
    return Solution(greedy, greedy_unplaced, model.grid, f"greedy fallback: {status}", time.perf_counter() - started,
                    len(model.cost), gap, held)


def plan_rank(snapshot: Snapshot, now: float, runs: tuple[Run, ...], placements, unplaced) -> tuple:
    """How good a plan is, smaller first: runs left out, Wh short or missed, seconds late (each
    rounded: float noise decides nothing), then the import cost (`plan_cost`)."""
    missed = sum(p.missed_wh + p.short_wh for p in placements) + sum(u.missed_wh for u in unplaced)
    late = sum(p.late_s or 0 for p in placements)
    cost = plan_cost(snapshot, now, placements, runs)[0]
    return len(unplaced), round(missed), round(late / 60), round(cost, 6)


def _run_highs(highspy, model: Model, time_limit_s: float, start: dict[int, float]):
    """(column values, status, relative gap) or (None, why, gap) when no feasible plan was found;
    `start` is a (partial) plan's column values to begin from."""
    import numpy as np

    h = _quiet(highspy)
    for name, value in (("output_flag", False), ("time_limit", float(time_limit_s)), ("mip_rel_gap", 1e-6),
                        ("mip_abs_gap", ABS_GAP), ("random_seed", 0), ("threads", 1)):
        h.setOptionValue(name, value)
    n = len(model.cost)
    h.addVars(n, np.array(model.lower, dtype=float), np.array(model.upper, dtype=float))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.array(model.cost, dtype=float))
    if model.integer:
        kinds = np.array([highspy.HighsVarType.kInteger] * len(model.integer))
        h.changeColsIntegrality(len(model.integer), np.array(model.integer, dtype=np.int32), kinds)
    if model.semi:  # a modulating run's power: 0 or between its minimum and maximum
        kinds = np.array([highspy.HighsVarType.kSemiContinuous] * len(model.semi))
        h.changeColsIntegrality(len(model.semi), np.array(model.semi, dtype=np.int32), kinds)
    starts, index, value = [], [], []
    for _lower, _upper, cols, coefs in model.rows:
        starts.append(len(index))
        index += cols
        value += coefs
    h.addRows(len(model.rows), np.array([r[0] for r in model.rows], dtype=float),
              np.array([r[1] for r in model.rows], dtype=float), len(index), np.array(starts, dtype=np.int32),
              np.array(index, dtype=np.int32), np.array(value, dtype=float))
    if start:
        h.setSolution(len(start), np.array(list(start), dtype=np.int32), np.array(list(start.values()), dtype=float))
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    feasible, gap = info.primal_solution_status == 2, info.mip_gap  # 2: kSolutionStatusFeasible
    if status == highspy.HighsModelStatus.kOptimal:
        return list(h.getSolution().col_value), "optimal", gap
    if status == highspy.HighsModelStatus.kTimeLimit and feasible:
        return list(h.getSolution().col_value), f"time limit ({time_limit_s:g} s): best plan found", gap
    return None, h.modelStatusToString(status).lower(), None


def _quiet(highspy):
    """A Highs instance; its constructor prints a banner on stdout before any option can stop it."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
