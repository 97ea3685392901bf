"""An appliance runs one cycle at a time: two runs of one washer never overlap in the plan."""

from datetime import UTC, datetime, timedelta

import pytest

from reconcile.planner.domain import Home, Run, Shape, Snapshot
from reconcile.planner.plan import plan

NOW = datetime(2026, 6, 30, 6, 0, tzinfo=UTC)
HOME = Home(1, 20_000.0, "Europe/Berlin", 60, 24 * 3600, 0.0)  # room for everything at once


def run(run_id: int, appliance: str, *, interruptible: bool = False, minutes: int = 30, **kw) -> Run:
    return Run(id=run_id, appliance=appliance, program="p", interruptible=interruptible,
               shape=Shape(60, (1000.0,) * minutes, (1000.0,) * minutes), requested_at=NOW,
               earliest_start=NOW, priority_class=5, **kw)


def spans(result, run_id):
    placement = next(p for p in result.placements if p.execution_id == run_id)
    return [(s.start, s.end) for s in placement.segments]


@pytest.mark.parametrize("interruptible", [False, True])
def test_two_runs_of_one_appliance_run_one_after_the_other(interruptible):
    result = plan(Snapshot(HOME, (run(1, "washer", interruptible=interruptible),
                                  run(2, "washer", interruptible=interruptible))), NOW)
    assert spans(result, 1) == [(NOW, NOW + timedelta(minutes=30))]
    assert spans(result, 2) == [(NOW + timedelta(minutes=30), NOW + timedelta(minutes=60))]
    assert [(d.execution_id, d.kind) for d in result.decisions] == [(1, "start")]


def test_runs_of_different_appliances_share_the_power_freely():
    result = plan(Snapshot(HOME, (run(1, "washer"), run(2, "dryer"))), NOW)
    assert spans(result, 1) == spans(result, 2) == [(NOW, NOW + timedelta(minutes=30))]


def test_a_running_cycle_keeps_its_appliance_until_it_ends():
    running = run(1, "washer", state="running", state_since=NOW - timedelta(minutes=10), progress_s=0.0)
    result = plan(Snapshot(HOME, (running, run(2, "washer", minutes=5))), NOW)
    assert spans(result, 2) == [(NOW + timedelta(minutes=20), NOW + timedelta(minutes=25))]
