"""The exact reference planner run by HiGHS (`highspy`): the solver's side of `planner.exact`.

Optional (`pip install 'wattplan[optimal]'`); imported lazily. Same inputs and outputs as the
greedy `build_timetable`, so `timetable_optimal` can stand in for it and `plan_optimal` for
`plan.plan`. The model is built and decoded by the pure `reconcile.planner.exact`; this module
runs the solver, quiets its banner on stdout and times it.

A solve is stopped after `time_limit_s`; the best plan found so far is used, and the greedy plan
when none was found. Planning time is not deterministic under a time limit; the plan is when
the solve ends by optimality.
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
from reconcile.planner.grid import Grid
from reconcile.planner.plan import plan
from reconcile.planner.timetable import build_timetable

__all__ = ["Solution", "plan_cost", "plan_optimal", "require_solver", "solve", "timetable_optimal"]

TIME_LIMIT_S = 10.0
INSTALL = "install the optimal extra: pip install 'wattplan[optimal]'"


@dataclass(frozen=True, slots=True)
class Solution:
    placements: tuple[Placement, ...]
    unplaced: tuple[Unplaced, ...]
    grid: Grid
    status: str  # optimal | time limit (incumbent) | greedy fallback: WHY
    seconds: float  # model building and solving
    variables: int


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
    model = build_model(snapshot, runs, now)
    values, status = _run_highs(highspy, model, time_limit_s)
    if values is None:
        placements, unplaced, grid = build_timetable(snapshot, runs, now)
        return Solution(placements, unplaced, grid, f"greedy fallback: {status}",
                        time.perf_counter() - started, len(model.cost))
    placements, unplaced = decode(model, runs, values)
    return Solution(placements, unplaced, model.grid, status, time.perf_counter() - started, len(model.cost))


def _run_highs(highspy, model: Model, time_limit_s: float):
    """(column values, status) or (None, why) when no feasible plan was found."""
    import numpy as np

    h = _quiet(highspy)
    for name, value in (("output_flag", False), ("time_limit", float(time_limit_s)), ("mip_rel_gap", 1e-6),
                        ("random_seed", 0), ("threads", 1)):
        h.setOptionValue(name, value)
    n = len(model.cost)
    h.addVars(n, np.zeros(n), np.array(model.upper, dtype=float))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.array(model.cost, dtype=float))
    if model.integer:
        kinds = np.array([highspy.HighsVarType.kInteger] * len(model.integer))
        h.changeColsIntegrality(len(model.integer), np.array(model.integer, dtype=np.int32), kinds)
    starts, index, value = [], [], []
    for _lower, _upper, cols, coefs in model.rows:
        starts.append(len(index))
        index += cols
        value += coefs
    h.addRows(len(model.rows), np.array([r[0] for r in model.rows], dtype=float),
              np.array([r[1] for r in model.rows], dtype=float), len(index), np.array(starts, dtype=np.int32),
              np.array(index, dtype=np.int32), np.array(value, dtype=float))
    h.run()
    status = h.getModelStatus()
    feasible = h.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    if status == highspy.HighsModelStatus.kOptimal:
        return list(h.getSolution().col_value), "optimal"
    if status == highspy.HighsModelStatus.kTimeLimit and feasible:
        return list(h.getSolution().col_value), f"time limit ({time_limit_s:g} s): best plan found"
    return None, h.modelStatusToString(status).lower()


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
