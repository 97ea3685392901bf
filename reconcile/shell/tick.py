"""`run_tick`: load → plan(snapshot, now) → apply, in one write transaction.

A crash anywhere rolls the whole tick back; two ticks at once serialise on BEGIN IMMEDIATE.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from reconcile.planner.domain import Plan
from reconcile.planner.plan import plan as make_plan
from reconcile.planner.timetable import build_timetable
from reconcile.shell.db import require_head, transaction, translate_errors
from reconcile.shell.store import apply, finish_tick, home_row, load_snapshot, start_tick


@dataclass(frozen=True, slots=True)
class TickReport:
    tick_id: int
    now: datetime
    plan: Plan
    duration_ms: float
    clock_behind_s: float  # > 0: the given now was before the last tick's; planned at that instead

    def summary(self) -> str:
        """One line for the journal."""
        p = self.plan
        kinds = {}
        for d in p.decisions:
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        said = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no decisions"
        extra = f"; {len(p.problems)} skipped" if p.problems else ""
        extra += f"; clock {self.clock_behind_s:.0f}s behind last tick" if self.clock_behind_s > 0 else ""
        return (f"tick {self.tick_id} at {self.now.isoformat(timespec='seconds')}: {said}; "
                f"{len(p.finished)} finished, {len(p.placements)} planned, {len(p.unplaced)} unplaced"
                f"{extra} ({self.duration_ms:.0f} ms)")


def run_tick(*, engine: Engine, now: datetime, ran_at: datetime | None = None) -> TickReport:
    """Reconcile the database at `now`; `ran_at` is the wall clock (defaults to `now`)."""
    require_head(engine)
    return translate_errors(_tick, engine, now, ran_at or now)


def _tick(engine: Engine, now: datetime, ran_at: datetime) -> TickReport:
    started = time.perf_counter()
    with transaction(engine) as session:
        home = home_row(session)
        snapshot = load_snapshot(session=session, home=home, now=now, for_planning=True)
        plan = make_plan(snapshot, now, timetable=timetable_for(snapshot.home.planner))
        tick_id = start_tick(session, home_id=home.id, now=plan.now, ran_at=ran_at)
        apply(session=session, home_id=home.id, tick_id=tick_id, plan=plan)
        duration = round((time.perf_counter() - started) * 1000, 3)
        finish_tick(session, tick_id, duration)
    return TickReport(tick_id, plan.now, plan, duration, plan.clock_behind_s)


def timetable_for(planner: str):
    """The timetable builder of a home's planner; the exact one imports HiGHS only when used."""
    if planner == "optimal":
        from reconcile.shell.optimal import timetable_optimal

        return timetable_optimal
    return build_timetable
