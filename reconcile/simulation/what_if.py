"""`wattplan plan SCENARIO`: a scenario planned once, at its start, with every request known.

Its home, appliances, programs and forecasts go into a throwaway database and every request is
enqueued at its own instant (its earliest start is then its request time or later), exactly as
`simulate` does; the snapshot the tick would load at the scenario's start is then planned once.
For what-if questions ("what would tonight cost?") and for comparing planners from outside.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

from reconcile.planner.domain import Plan, Snapshot
from reconcile.planner.exact import plan_cost
from reconcile.planner.grid import EPS, make_grid, peak_between
from reconcile.planner.timetable import tail_slots
from reconcile.shell.db import transaction
from reconcile.shell.store import home_row, load_snapshot
from reconcile.simulation.scenario_types import Scenario
from reconcile.simulation.simulate import World, scratch_engine


@dataclass(frozen=True, slots=True)
class Known:
    """A scenario's snapshot at its start, every request enqueued; `labels`: execution id → label."""

    snapshot: Snapshot
    labels: dict[int, str]


def snapshot_at_start(scenario: Scenario, *, planner: str = "greedy") -> Known:
    with tempfile.TemporaryDirectory(prefix="wattplan-plan-") as folder:
        engine = scratch_engine(Path(folder) / "plan.db")
        try:
            world = World(engine, scenario, planner=planner)
            world.apply_events_until(scenario.end, requests_only=True)
            with transaction(engine) as session:
                snapshot = load_snapshot(session=session, home=home_row(session), now=scenario.start,
                                         for_planning=True)
        finally:
            engine.dispose()
    return Known(snapshot, {execution: label for label, execution in world.labels.items()})


@dataclass(frozen=True, slots=True)
class Totals:
    cost: float  # the house's import cost over the grid with the plan (price × import)
    imported_wh: float
    peak_w: float  # the highest grid import planned in any slot (runs + base load − PV, at its worst instant)


def totals(snapshot: Snapshot, plan: Plan) -> Totals:
    """What a plan costs and how high it draws, judged by the one cost function of every planner."""
    now = plan.now.timestamp()
    runs = snapshot.runs
    cost, imported = plan_cost(snapshot, now, plan.placements, runs)
    grid = make_grid(snapshot, now, tail_slots(snapshot, runs))
    draw = [0.0] * len(grid.capacity)
    shapes = {run.id: run.shape for run in runs if not run.modulating}  # a modulating segment is one setpoint
    for placement in plan.placements:
        shape = shapes.get(placement.execution_id)
        for segment in placement.segments:
            a, b = segment.start.timestamp(), segment.end.timestamp()
            k = grid.slot_holding(a)
            while k < len(draw) and grid.start_of(k) < b - EPS:
                first, last = max(a, grid.start_of(k)) - a, min(b, grid.start_of(k + 1)) - a
                draw[k] += segment.peak_w if shape is None else peak_between(
                    shape, segment.offset_s + first, segment.offset_s + last)
                k += 1
    # the grid import the breaker sees: the runs' draw + base load − PV, and capacity = limit + PV − base
    peak = max((d + grid.limit_w - c for d, c in zip(draw, grid.capacity, strict=True)), default=0.0)
    return Totals(round(cost, 4), round(imported, 1), round(peak, 1))
