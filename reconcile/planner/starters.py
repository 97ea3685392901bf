"""Starters: pausable runs planned to start now, which claim their first stretch before the
other runs of their priority level (`timetable._claims`). PURE.

Once running, a run keeps running until its own plan pauses it, and it claims before its equals;
so the plan that starts it must already have given it that stretch, claimed first, or the next
tick would plan it differently with no new input. `timetable.build_timetable` places a level,
asks `new_starters` which runs must claim as starters, and places the level again with them.
"""

from reconcile.planner.domain import Run
from reconcile.planner.grid import EPS, Grid, peak_between
from reconcile.planner.placement import Pausable


def new_starters(grid, capacity, uses, level, starters, later, objective) -> set[int]:
    """Pausable runs of `level` planned to start now that must claim as starters (`timetable._claims`).

    Under a cost objective every such run: its cost plan may have placed it in slot 0 after an
    equal claimed, while once running it claims its stretch before its equals. Under `asap` its
    first stretch is already as long as power allows, except where an equal priority claimed
    before it (`_yields_to_an_equal`)."""
    costly = {run.id for run in level if run.interruptible and run.state != "running" and run.id not in starters
              and (run.objective or objective) != "asap" and uses.get(run.id) and uses[run.id][0].slot == 0}
    if costly:
        return costly
    starter = _yields_to_an_equal(grid, capacity, uses, level, starters, later)
    return set() if starter is None else {starter}


def _yields_to_an_equal(grid, capacity, uses, level, starters, later) -> int | None:
    """A pausable run of `level` planned to start now whose first stretch stops where an equal
    priority claimed before it: once running it would not yield, so it must claim as a starter."""
    for run in level:
        got = uses.get(run.id)
        if not run.interruptible or run.state == "running" or run.id in starters or not got or got[0].slot:
            continue
        stop = next((i for i, u in enumerate(got) if u.slot != i), len(got))
        done = got[stop - 1].offset + got[stop - 1].seconds
        if stop >= len(capacity) or done >= run.shape.duration_s - EPS:
            continue
        before = next(i for i, (rid, _uses) in enumerate(later) if rid == run.id)
        freed = sum(u.peak for _rid, claimed in later[:before] for u in claimed if u.slot == stop)
        need = peak_between(run.shape, done, min(done + grid.slot_s, run.shape.duration_s))
        if freed > EPS and capacity[stop] + freed + EPS >= need:
            return run.id
    return None


def may_start_now(grid: Grid, capacity: list[float], run: Run, now: float) -> bool:
    """A quick necessary condition for starting or resuming `run` in slot 0 (most runs fail it)."""
    if run.earliest_start.timestamp() > now:
        return False
    if Pausable.of(run, now).off_until > now:  # its minimum pause is not over
        return False
    first = min(grid.slot_s - grid.lead, run.shape.duration_s - run.progress_s)
    return peak_between(run.shape, run.progress_s, run.progress_s + first) <= capacity[0] + EPS
