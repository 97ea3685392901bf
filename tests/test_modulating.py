"""Modulating runs (EV chargers): a power per slot in [min, max] or 0, under the limit, the energy
asked for delivered or reported missing. DB-free: snapshots in, plans out."""

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.planner.modulating import energy_shape, step_down, step_up
from reconcile.planner.plan import plan
from tests.helpers import (
    HOUR,
    MIN,
    NOW,
    TOL,
    apply_plan,
    flat,
    home,
    interval,
    placement,
    run,
    run_loads,
    slot_capacity,
)
from tests.helpers import snap as snapshot


def ev(id: int, energy_wh: float, *, low: float = 1380, high: float = 7360, step: float | None = 230, **fields):
    """An EV charge of `energy_wh` on a `low`–`high` W charger (6–32 A single phase by default)."""
    return run(id, energy_shape(energy_wh, high), interruptible=True, min_power_w=low, max_power_w=high,
               power_step_w=step, **fields)


def slot_powers(h, p) -> dict[int, float]:
    """Per slot, the setpoint a modulating placement draws (its segments are constant power)."""
    powers: dict[int, float] = {}
    for seg in p.segments:
        t = seg.start.timestamp()
        while t < seg.end.timestamp() - TOL:
            k = int((t - NOW.timestamp()) // h.slot_s)
            powers[k] = powers.get(k, 0.0) + seg.peak_w
            t = NOW.timestamp() + (k + 1) * h.slot_s
    return powers


def test_an_ev_fills_what_the_washer_leaves_under_the_limit():
    h = home(6900, slot_s=900)
    washer = run(1, flat(2000, 90))
    p = plan(snapshot(washer, ev(2, 20_000, latest_end=NOW + 11 * HOUR), h=h), NOW)
    charge = placement(p, 2)
    assert charge.segments[0].peak_w == 1380 + 15 * 230  # 4830 W: the most steps under 6900 − 2000
    assert abs(sum(seg.energy_wh for seg in charge.segments) - 20_000) < 2.1  # whole seconds at 7.36 kW
    assert {(d.execution_id, d.kind, d.power_w) for d in p.decisions} == {(1, "start", None), (2, "start", 4830)}
    assert charge.late_s is None and charge.missed_wh == 0


def test_cheapest_charges_in_the_cheap_hours_and_solar_in_the_sunny_ones():
    h = home(6900, slot_s=3600, objective="cheapest")
    prices = [interval(NOW + i * HOUR, NOW + (i + 1) * HOUR, v) for i, v in enumerate([0.3, 0.1, 0.3, 0.05, 0.3])]
    p = plan(snapshot(ev(1, 10_000, latest_end=NOW + 5 * HOUR), h=h, price=prices), NOW)
    used = {int((s.start - NOW) / HOUR) for s in placement(p, 1).segments}
    assert used == {1, 3}  # 6.9 kW − steps, twice: the two cheap hours hold 10 kWh
    pv = [interval(NOW + 2 * HOUR, NOW + 4 * HOUR, 3000)]
    p = plan(snapshot(ev(1, 10_000, latest_end=NOW + 5 * HOUR, objective="solar"), h=h, pv=pv), NOW)
    assert {int((s.start - NOW) / HOUR) for s in placement(p, 1).segments} == {2, 3}


def test_a_charge_that_cannot_finish_by_its_deadline_says_what_it_misses():
    h = home(3000, slot_s=900)
    p = plan(snapshot(ev(1, 10_000, latest_end=NOW + 2 * HOUR), h=h), NOW)
    charge = placement(p, 1)
    # 2990 W (the top step under 3 kW) for 2 h is 5.98 kWh by the deadline; the rest is late.
    assert charge.late_s > 0 and abs(charge.missed_wh - (10_000 - 2 * 2990)) < 1


def test_a_changed_setpoint_is_a_resume_with_its_power_and_a_second_tick_decides_nothing():
    h = home(6900, slot_s=60)
    charging = replace(ev(1, 20_000), state="running", power_w=6440.0,
                       last_command="start")
    washer = run(2, flat(2000, 30), priority_class=9)
    p = plan(snapshot(charging, washer, h=h), NOW)
    assert {(d.execution_id, d.kind, d.power_w) for d in p.decisions} == {(2, "start", None), (1, "resume", 4830)}
    after = apply_plan(snapshot(charging, washer, h=h), p)
    assert plan(after, NOW).decisions == ()
    assert next(r for r in after.runs if r.id == 1).power_w == 4830


def test_progress_counts_at_the_setpoint():
    charging = replace(ev(1, 7360, step=None), state="running", power_w=3680, state_since=NOW)
    p = plan(snapshot(charging, h=home(7360)), NOW + HOUR)
    assert "complete" not in {t.event for t in p.transitions}  # half power for an hour: half done
    p = plan(snapshot(charging, h=home(7360)), NOW + 2 * HOUR + MIN)
    assert [(t.event, t.ended_at) for t in p.transitions] == [("complete", NOW + 2 * HOUR)]


def test_steps_round_down_to_fit_and_up_to_finish():
    charger = ev(1, 1000, low=1380, high=7360, step=230)
    assert step_down(charger, 5000) == 4830 and step_down(charger, 1000) == 0 and step_down(charger, 9e9) == 7360
    assert step_up(charger, 1500) == 1610 and step_up(charger, 100) == 1380


@st.composite
def homes_with_charges(draw):
    slot_s = draw(st.sampled_from([60, 900, 3600]))
    limit = draw(st.sampled_from([3450.0, 4600.0, 6900.0]))
    h = home(limit, slot_s=slot_s, horizon_h=12, objective=draw(st.sampled_from(["asap", "cheapest", "solar"])))
    runs = []
    for i in range(draw(st.integers(0, 3))):
        runs.append(run(i + 1, flat(draw(st.sampled_from([500.0, 1500.0, 2500.0])), draw(st.integers(10, 180))),
                        priority_class=draw(st.integers(1, 10))))
    for i in range(draw(st.integers(1, 3))):
        low = draw(st.sampled_from([230.0, 1380.0, 4140.0]))
        high = draw(st.sampled_from([low, 3000.0, 3450.0])) if low < 3000 else low
        step = draw(st.sampled_from([None, 230.0]))
        deadline = NOW + timedelta(minutes=draw(st.integers(30, 900)))
        runs.append(ev(10 + i, draw(st.floats(100, 40_000)), low=low, high=high, step=step, latest_end=deadline,
                       priority_class=draw(st.integers(1, 10))))
    hours = range(13)
    price = [interval(NOW + k * HOUR, NOW + (k + 1) * HOUR, draw(st.floats(0, 1))) for k in hours]
    pv = [interval(NOW + k * HOUR, NOW + (k + 1) * HOUR, draw(st.sampled_from([0.0, 1000.0, 3000.0]))) for k in hours]
    return snapshot(*runs, h=h, price=price, pv=pv)


@settings(max_examples=60, deadline=None)
@given(homes_with_charges())
def test_the_limit_holds_powers_stay_in_range_and_energy_is_delivered_or_reported(s):
    p = plan(s, NOW)
    load: dict[int, float] = {}
    reported = {u.execution_id for u in p.unplaced}
    for r in s.runs:
        got = next((x for x in p.placements if x.execution_id == r.id), None)
        assert got is not None or r.id in reported
        if got is None:
            continue
        per_slot = slot_powers(s.home, got) if r.modulating else run_loads(s.home, NOW, r, got)
        for k, watts in per_slot.items():
            load[k] = load.get(k, 0.0) + watts
        if not r.modulating:
            continue
        for seg in got.segments:
            assert r.min_power_w - TOL <= seg.peak_w <= r.max_power_w + TOL
            if r.power_step_w:
                steps = (seg.peak_w - r.min_power_w) / r.power_step_w
                assert abs(steps - round(steps)) < 1e-6
        asked = r.shape.duration_s * r.max_power_w / 3600
        delivered = sum(seg.energy_wh for seg in got.segments)
        assert abs(delivered + got.short_wh - asked) < 0.01 * asked + 2  # whole seconds of the shape
        if got.late_s is None and not got.short:
            assert got.missed_wh == 0
    for k, watts in load.items():
        assert watts <= slot_capacity(s, NOW, k) + 1e-6, f"slot {k}: {watts} W"


def test_an_urgent_charge_takes_its_power_before_a_lower_priority_program_and_not_after_a_higher_one():
    h = home(6900, slot_s=900)
    for car_class, washer_class, first in ((10, 1, 2), (1, 10, 1)):
        washer = run(1, flat(2000, 90), priority_class=washer_class, latest_end=NOW + 12 * HOUR)
        car = ev(2, 6900, low=1380, high=6900, step=230, priority_class=car_class, latest_end=NOW + 12 * HOUR)
        p = plan(snapshot(washer, car, h=h), NOW)
        starts = {x.execution_id: x.start for x in p.placements}
        assert starts[first] == NOW and starts[3 - first] > NOW or first == 1 and starts[2] == NOW
        if first == 2:  # the car draws the whole limit for an hour; the washer waits for it
            assert placement(p, 2).segments[0].peak_w == 6900 and starts[1] == NOW + HOUR
        else:  # the washer runs now; the car takes what it leaves beside it
            assert placement(p, 2).segments[0].peak_w == 4830
