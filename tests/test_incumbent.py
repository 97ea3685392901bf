"""Issue 11, item 2: the newest tick's plan is the incumbent of the cost objectives
(reconcile/planner/incumbent.py): a run stays where it was planned unless moving gains enough,
and the tick reads that plan back from the database (store.load_snapshot)."""

from dataclasses import replace

import pytest

from reconcile.planner.domain import Placement, Segment
from reconcile.planner.incumbent import MIN_GAIN_WH, REL_GAIN
from reconcile.planner.plan import plan
from reconcile.shell.db import transaction
from reconcile.shell.store import home_row, load_snapshot
from reconcile.shell.tick import run_tick
from tests.conftest import T0
from tests.helpers import HOUR, MIN, NOW, apply_plan, flat, home, interval, placement, run, snap, starts
from tests.test_tick import add_appliances, enqueue


def prices(*per_hour: float):
    return [interval(NOW + k * HOUR, NOW + (k + 1) * HOUR, p) for k, p in enumerate(per_hour)]


def incumbent_at(run_id: int, start, minutes: int) -> Placement:
    return Placement(run_id, (Segment(start, start + minutes * MIN, 0.0, 0.0, 0.0),))


@pytest.mark.parametrize("interruptible", [False, True])
def test_a_run_keeps_its_planned_slots_when_moving_gains_too_little(interruptible) -> None:
    """Hour 2 is 1 % cheaper than hour 1: not worth moving a run planned in hour 1."""
    ev = run(1, flat(2000, 60), interruptible=interruptible, latest_end=NOW + 6 * HOUR)
    s = snap(ev, h=home(3000, objective="cheapest"), price=prices(0.30, 0.200, 0.198, 0.30, 0.30, 0.30))
    assert starts(plan(s, NOW))[1] == NOW + 2 * HOUR  # from scratch: the cheapest hour
    kept = replace(s, previous=(incumbent_at(1, NOW + HOUR, 60),))
    assert starts(plan(kept, NOW))[1] == NOW + HOUR


@pytest.mark.parametrize("interruptible", [False, True])
def test_a_run_moves_for_a_real_gain(interruptible) -> None:
    ev = run(1, flat(2000, 60), interruptible=interruptible, latest_end=NOW + 6 * HOUR)
    s = snap(ev, h=home(3000, objective="cheapest"), price=prices(0.30, 0.20, 0.10, 0.30, 0.30, 0.30))
    moved = replace(s, previous=(incumbent_at(1, NOW + HOUR, 60),))
    assert starts(plan(moved, NOW))[1] == NOW + 2 * HOUR
    assert REL_GAIN < 0.5 and MIN_GAIN_WH < 2000 * 0.5  # the gain here: half the cost, 1 kWh


def test_an_incumbent_that_no_longer_fits_is_left() -> None:
    """A higher priority now needs the slots: the incumbent is not whole there any more."""
    ev = run(1, flat(2000, 60), latest_end=NOW + 6 * HOUR, priority_class=3)
    oven = run(2, flat(2000, 60), latest_end=NOW + 6 * HOUR, priority_class=9)
    s = snap(ev, oven, h=home(3000, objective="cheapest"), price=prices(0.30, 0.20, 0.199, 0.30, 0.30, 0.30))
    s = replace(s, previous=(incumbent_at(1, NOW + 2 * HOUR, 60),))
    result = starts(plan(s, NOW))
    assert result[2] == NOW + 2 * HOUR and result[1] != NOW + 2 * HOUR


def test_the_tick_reads_the_newest_timetable_back_as_the_incumbent(home_engine) -> None:
    add_appliances(home_engine, "washer", "dishwasher", "dryer")
    enqueue(home_engine, "washer", "dishwasher", "dryer")
    report = run_tick(engine=home_engine, now=T0)
    with transaction(home_engine) as session:
        snapshot = load_snapshot(session=session, home=home_row(session), now=T0 + MIN, for_planning=True)
    planned = {p.execution_id: (p.start, p.end) for p in report.plan.placements}
    assert {p.execution_id: (p.start, p.end) for p in snapshot.previous} == planned


def tick_each_minute(s, until):
    """Tick every minute from NOW to `until` applying each plan; yields (now, plan)."""
    now = NOW
    while now < until:
        result = plan(s, now)
        yield now, result
        s = apply_plan(s, result)
        now += MIN


@pytest.mark.parametrize("objective", ["cheapest", "solar"])
def test_a_charging_run_pauses_where_its_cost_plan_pauses_it(objective) -> None:
    """An EV started in a cheap hour pauses for the dear hours its plan skips, and the plan made at
    the start holds minute after minute. Before, a running run under a cost objective ran on as
    if `asap` (06:00-09:00 through the dear hours) though the plan that started it said 07:00."""
    ev = run(1, flat(2000, 180), interruptible=True, latest_end=NOW + 6 * HOUR)
    pv = [interval(NOW, NOW + HOUR, 2500), interval(NOW + 3 * HOUR, NOW + 5 * HOUR, 2500)]
    s = snap(ev, h=home(3000, objective=objective), pv=pv if objective == "solar" else (),
             price=prices(0.10, 0.40, 0.40, 0.10, 0.10, 0.30))
    told, plans = [], set()
    for now, result in tick_each_minute(s, NOW + 6 * HOUR):
        told += [(now, d.kind) for d in result.decisions]
        if result.placements:
            plans.add(tuple((g.start, g.end) for g in placement(result, 1).segments)[1:])  # past the current minute
    assert told == [(NOW, "start"), (NOW + HOUR, "pause"), (NOW + 3 * HOUR, "resume"), (NOW + 5 * HOUR, "stop")]
    assert len(plans) <= 2  # the rest of the plan never changes (only dropping a stretch once begun)
