"""The read side (`reconcile.shell.views`): what status, state, decisions and timetable answer, on real files.

The rule under test: an actuator is never offered a stale decision (`valid_until <= now`), nor one
a newer decision or the user has overtaken.
"""

from datetime import timedelta

import pytest

from reconcile.planner.domain import DECISION_TTL_S
from reconcile.shell import catalog, requests, timetable_view, views
from reconcile.shell.db import transaction
from reconcile.shell.tick import run_tick
from tests.conftest import T0

TTL = timedelta(seconds=DECISION_TTL_S)
MINUTE = timedelta(minutes=1)


def read(engine, view, **kwargs):
    with transaction(engine) as session:
        return view(session, **kwargs)


def enqueue(engine, appliance: str, at=T0, **kwargs) -> int:
    with transaction(engine) as session:
        request = requests.Request(appliance=appliance, **kwargs)
        return requests.enqueue(session, now=at, request=request).id


def end(engine, execution_id: int, reason: str, at) -> None:
    with transaction(engine) as session:
        requests.end(session, now=at, execution_id=execution_id, reason=reason)


@pytest.fixture
def house(home_engine):
    """The 4.6 kW home (4.3 kW capacity) with a 2 kW washer and a pausable 3 kW heater of class 8."""
    with transaction(home_engine) as session:
        catalog.add_appliance(session, now=T0, name="washer")
        catalog.add_profile(session, now=T0, appliance="washer", name="eco", slot_s=60, watts=[2000.0] * 30)
        catalog.add_appliance(session, now=T0, name="heater", interruptible=True, min_run_s=60,
                              min_pause_s=60, priority_class=8)
        catalog.add_profile(session, now=T0, appliance="heater", name="boost", slot_s=60, watts=[3000.0] * 10)
        catalog.add_appliance(session, now=T0, name="ev", interruptible=True, priority_class=2)
        catalog.add_profile(session, now=T0, appliance="ev", name="charge", slot_s=60, watts=[1500.0] * 60)
    return home_engine


def test_a_decision_is_pending_until_its_valid_until_and_never_after(house):
    enqueue(house, "washer")
    run_tick(engine=house, now=T0)
    assert [d.kind for d in read(house, views.decisions, now=T0 + TTL - MINUTE, pending=True)] == ["start"]
    assert read(house, views.decisions, now=T0 + TTL, pending=True) == []
    assert [d.kind for d in read(house, views.decisions, now=T0 + TTL)] == ["start"]  # history keeps it


def test_only_the_newest_decision_per_execution_is_pending(house):
    ev = enqueue(house, "ev")
    run_tick(engine=house, now=T0)  # the EV starts alone
    enqueue(house, "heater", at=T0 + MINUTE)
    run_tick(engine=house, now=T0 + MINUTE)  # the class-8 heater needs the power: the EV pauses
    kinds = [(d.execution_id, d.kind) for d in read(house, views.decisions, now=T0 + MINUTE, pending=True)]
    assert (ev, "start") not in kinds and (ev, "pause") in kinds


def test_a_start_of_a_run_the_user_cancelled_is_withdrawn_at_once(house):
    washer = enqueue(house, "washer")
    run_tick(engine=house, now=T0)
    end(house, washer, "cancelled", T0 + timedelta(seconds=30))
    assert read(house, views.decisions, now=T0 + timedelta(seconds=31), pending=True) == []
    state, fresh = read(house, views.state, now=T0 + timedelta(seconds=31))
    assert fresh and [(s.appliance, s.should_run) for s in state] == [("ev", False), ("heater", False),
                                                                      ("washer", False)]
    run_tick(engine=house, now=T0 + MINUTE)
    assert [(d.kind, d.reason) for d in read(house, views.decisions, now=T0 + MINUTE, pending=True)] == [
        ("stop", "cancelled by the user")]
    state, _ = read(house, views.state, now=T0 + MINUTE)
    washer_state = next(s for s in state if s.appliance == "washer")
    assert (washer_state.should_run, washer_state.execution_id, washer_state.decision) == (
        False, washer, "stop")


def test_state_offers_no_stale_decision_but_a_fresh_tick_still_vouches_for_a_running_run(house):
    washer = enqueue(house, "washer")
    run_tick(engine=house, now=T0)
    for minute in range(1, 5):  # later ticks make no decision: the start becomes stale
        run_tick(engine=house, now=T0 + minute * MINUTE)
    at = T0 + 4 * MINUTE + timedelta(seconds=30)
    state, fresh = read(house, views.state, now=at)
    washer_state = next(s for s in state if s.appliance == "washer")
    assert fresh
    assert (washer_state.should_run, washer_state.execution_id, washer_state.decision) == (True, washer, None)
    assert washer_state.valid_until == T0 + 4 * MINUTE + TTL


def test_state_when_ticks_stopped_runs_nothing(house):
    enqueue(house, "washer")
    run_tick(engine=house, now=T0)
    state, fresh = read(house, views.state, now=T0 + TTL)
    assert not fresh
    assert [(s.should_run, s.decision) for s in state] == [(False, None)] * 3
    assert all(s.reason.endswith("act on nothing") for s in state)


def test_state_before_any_tick_is_not_fresh(house):
    state, fresh = read(house, views.state, now=T0)
    assert not fresh and [s.reason for s in state] == ["no tick yet; act on nothing"] * 3


def test_a_paused_run_should_not_run(house):
    ev = enqueue(house, "ev")
    run_tick(engine=house, now=T0)
    enqueue(house, "heater", at=T0 + MINUTE)
    run_tick(engine=house, now=T0 + MINUTE)
    state, _ = read(house, views.state, now=T0 + MINUTE)
    assert [(s.appliance, s.should_run, s.execution_id, s.decision) for s in state] == [
        ("ev", False, ev, "pause"), ("heater", True, ev + 1, "start"), ("washer", False, None, None)]


def test_status_lists_running_then_paused_then_pending_by_planned_start(house):
    ev = enqueue(house, "ev")
    run_tick(engine=house, now=T0)
    heater = enqueue(house, "heater", at=T0 + MINUTE)
    washer = enqueue(house, "washer", at=T0 + MINUTE)
    run_tick(engine=house, now=T0 + MINUTE)
    status = read(house, views.status)
    assert [(e.id, e.state) for e in status.executions] == [
        (heater, "running"), (ev, "paused"), (washer, "pending")]
    assert status.last_tick.id == 2


def test_check_measures_the_age_of_the_last_tick_by_the_wall_clock(house):
    assert read(house, views.check, now=T0, max_age_s=120) == (False, "stale: no tick has run yet")
    run_tick(engine=house, now=T0, ran_at=T0 + timedelta(seconds=5))
    assert read(house, views.check, now=T0 + 2 * MINUTE, max_age_s=120) == (
        True, "ok: last tick #1 ran 1m55s ago")
    assert read(house, views.check, now=T0 + 3 * MINUTE, max_age_s=120) == (
        False, "stale: last tick #1 ran 2m55s ago, more than 2m")


def test_timetable_sums_the_peaks_of_runs_sharing_a_slot(house):
    enqueue(house, "washer")
    enqueue(house, "ev")  # 2 kW + 1.5 kW fit together under 4.3 kW
    run_tick(engine=house, now=T0 + timedelta(seconds=20))  # slot 0 is the 40 s left of the minute
    table = read(house, timetable_view.timetable, hours=2)
    assert len(table.slots) == 120
    first, second = table.slots[0], table.slots[1]
    assert (first.start, first.end, first.planned_w, first.capacity_w) == (
        T0 + timedelta(seconds=20), T0 + MINUTE, 3500.0, 4300.0)
    assert first.energy_wh == pytest.approx(3500 * 40 / 3600, abs=1e-3)
    assert (second.planned_w, second.energy_wh) == (3500.0, pytest.approx(3500 / 60, abs=1e-3))
    assert all(slot.planned_w <= slot.capacity_w for slot in table.slots)
    assert sum(slot.energy_wh for slot in table.slots) == pytest.approx(1000 + 1500, abs=0.01)


def test_timetable_before_any_tick_is_empty(house):
    table = read(house, timetable_view.timetable)
    assert (table.tick, table.slots, table.entries) == (None, (), ())


def test_as_data_writes_times_as_utc_iso(house):
    enqueue(house, "washer")
    data = views.as_data(read(house, views.executions))
    assert data[0]["requested_at"] == "2026-06-30T06:00:00Z"
