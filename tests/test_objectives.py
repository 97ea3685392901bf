"""Objectives on real shapes: `cheapest` and `solar` move runs inside their windows, `asap` does not.

Prices are the real Spanish PVPC hours of 2021-06-01 and PV the DWD 2015-06-30 clear day of a 5 kWp
roof (../shared/data, PROVENANCE.md), hourly, laid on the test day from 00:00 UTC. The home has
no base load, so capacity is the limit plus the PV.
"""

import random
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.planner.objectives import sweep_costs
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
    snap,
    starts,
)

DAY = NOW.replace(hour=0)
PVPC_EUR_MWH = [116.33, 115.95, 114.89, 114.96, 114.84, 116.03, 116.29, 115.7, 152.89, 150.83, 242.62, 240.5,
                238.09, 235.3, 137.96, 132.88, 131.93, 135.99, 231.44, 240.4, 246.2, 248.08, 155.91, 156.5]
PV_W = [0, 0, 0, 0, 76, 183, 770, 1504, 2199, 2796, 3205, 3542, 3525, 3271, 2913, 2412, 1692, 872, 104, 93,
        0, 0, 0, 0]
PRICES = [interval(DAY + h * HOUR, DAY + (h + 1) * HOUR, p / 1000) for h, p in enumerate(PVPC_EUR_MWH * 2)]
PV = [interval(DAY + h * HOUR, DAY + (h + 1) * HOUR, w) for h, w in enumerate(PV_W * 2)]
WASHER = flat(2000, 120)  # 2 kW for two hours


def at(hour: float):
    return DAY + timedelta(hours=hour)


def test_asap_starts_now_whatever_the_price() -> None:
    s = snap(run(1, WASHER, latest_end=at(20)), h=home(3000), price=PRICES)
    assert starts(plan(s, NOW)) == {1: NOW}


def test_cheapest_moves_the_run_into_the_cheap_afternoon_hours() -> None:
    """From 08:00 until 20:00 the cheapest two hours in a row are 15:00–17:00."""
    s = snap(run(1, WASHER, earliest_start=at(8), latest_end=at(20)), h=home(3000, objective="cheapest"),
             price=PRICES)
    assert starts(plan(s, NOW)) == {1: at(15)}


def test_cheapest_never_plans_past_the_deadline() -> None:
    """Due 16:30: the 16:00 hour is cheaper than 14:00, so as late as allowed: 14:30–16:30."""
    s = snap(run(1, WASHER, earliest_start=at(8), latest_end=at(16.5)), h=home(3000, objective="cheapest"),
             price=PRICES)
    p = placement(plan(s, NOW), 1)
    assert (p.start, p.end, p.late_s) == (at(14.5), at(16.5), None)


def test_without_room_in_the_window_the_run_starts_at_the_first_fit_after_it_and_is_late() -> None:
    s = snap(run(1, WASHER, earliest_start=at(8), latest_end=at(9)), h=home(3000, objective="cheapest"),
             price=PRICES)
    p = placement(plan(s, NOW), 1)
    assert (p.start, p.late_s) == (at(8), 3600)


def test_solar_moves_the_run_under_the_pv_peak() -> None:
    """3.2 kW for two hours imports nothing only where the PV is at least 3.2 kW: 10:00–14:00."""
    s = snap(run(1, flat(3200, 120), latest_end=at(23)), h=home(4000, objective="solar"), pv=PV, price=PRICES)
    assert starts(plan(s, NOW)) == {1: at(10)}


def test_cheapest_without_a_price_forecast_still_uses_own_pv() -> None:
    s = snap(run(1, flat(3200, 120), latest_end=at(23)), h=home(4000, objective="cheapest"), pv=PV)
    assert starts(plan(s, NOW)) == {1: at(10)}


def test_the_execution_objective_overrides_the_home_objective() -> None:
    s = snap(run(1, WASHER, earliest_start=at(8), latest_end=at(20), objective="cheapest"),
             run(2, WASHER, earliest_start=at(8), latest_end=at(20)), h=home(5000, objective="asap"),
             price=PRICES)
    assert starts(plan(s, NOW)) == {1: at(15), 2: at(8)}
    s = snap(run(1, WASHER, latest_end=at(20), objective="asap"), h=home(3000, objective="cheapest"),
             price=PRICES)
    assert starts(plan(s, NOW)) == {1: NOW}


def test_the_higher_priority_run_gets_the_cheap_hours_when_both_cannot_fit() -> None:
    s = snap(run(1, WASHER, earliest_start=at(8), latest_end=at(20), priority_class=3),
             run(2, WASHER, earliest_start=at(8), latest_end=at(20), priority_class=8),
             h=home(3000, objective="cheapest"), price=PRICES)
    assert starts(plan(s, NOW)) == {2: at(15), 1: at(8)}  # 152.89 + 150.83 beats 13:00 and 17:00


def test_an_interruptible_run_takes_the_cheapest_hours_of_its_window() -> None:
    """Five hours of charging between 08:00 and midnight: 09:00–10:00 and 14:00–18:00."""
    ev = run(1, flat(2000, 300), interruptible=True, min_run_s=1800, min_pause_s=900, earliest_start=at(8),
             latest_end=at(24))
    p = placement(plan(snap(ev, h=home(3000, objective="cheapest"), price=PRICES), NOW), 1)
    assert [(s.start, s.end) for s in p.segments] == [(at(9), at(10)), (at(14), at(18))]


def test_an_interruptible_run_honours_its_minimum_run_in_cheap_slots() -> None:
    """Cheap 15-minute islands too short for the 30-minute minimum run are not used."""
    q = 15 * MIN
    price = [interval(NOW + i * q, NOW + (i + 1) * q, 0.1 if i % 3 == 0 else 0.3) for i in range(40)]
    ev = run(1, flat(1000, 60), interruptible=True, min_run_s=1800, min_pause_s=900,
             latest_end=NOW + 10 * HOUR)
    p = placement(plan(snap(ev, h=home(3000, objective="cheapest"), price=price), NOW), 1)
    assert all(s.end - s.start >= 30 * MIN for s in p.segments)
    assert sum((s.end - s.start for s in p.segments), timedelta()) == HOUR


def test_objective_plans_never_exceed_capacity() -> None:
    runs = [run(i, flat(900 + 150 * i, 30 + 20 * i), earliest_start=at(7), latest_end=at(22),
                interruptible=i % 3 == 0, min_run_s=900 if i % 3 == 0 else 0) for i in range(1, 10)]
    for objective in ("cheapest", "solar"):
        s = snap(*runs, h=home(3500, objective=objective), pv=PV, price=PRICES)
        result = plan(s, NOW)
        load: dict[int, float] = {}
        for p in result.placements:
            r = next(r for r in runs if r.id == p.execution_id)
            assert p.start >= r.earliest_start
            for k, watts in run_loads(s.home, NOW, r, p).items():
                load[k] = load.get(k, 0.0) + watts
        assert all(w <= slot_capacity(s, NOW, k) + TOL for k, w in load.items())


def test_a_cost_plan_is_stable_over_ticks_with_no_new_input() -> None:
    """Tick every minute from 06:00 to 18:00: what is planned ahead never moves; the runs start and
    pause exactly when first planned."""
    ev = run(2, flat(2000, 300), interruptible=True, min_run_s=1800, min_pause_s=900, earliest_start=at(8),
             latest_end=at(24))
    s = snap(run(1, WASHER, earliest_start=at(8), latest_end=at(20)), ev, h=home(5000, objective="cheapest"),
             price=PRICES, pv=PV)
    planned = {p.execution_id: [(x.start, x.end) for x in p.segments] for p in plan(s, NOW).placements}
    assert planned == {1: [(at(8), at(10))], 2: [(at(10), at(15))]}
    now = NOW
    while now < at(18):
        result = plan(s, now)
        for p in result.placements:
            ahead = [(max(a, now), b) for a, b in planned[p.execution_id] if b > now]
            assert [(x.start, x.end) for x in p.segments] == ahead, now
        s = apply_plan(s, result)
        now += MIN
    assert not s.runs  # both done


def test_a_cost_plan_is_stable_with_ticks_inside_15_minute_slots() -> None:
    s = snap(run(1, flat(2000, 120), earliest_start=at(8), latest_end=at(20)),
             h=home(3000, slot_s=900, objective="cheapest"), price=PRICES)
    assert {starts(plan(s, NOW + m * MIN))[1] for m in (0, 1, 7, 14, 15, 44, 200, 539)} == {at(15)}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=12), st.integers(0, 10_000), st.data())
def test_the_sweep_gives_the_cost_of_every_start(energies, seed, data) -> None:
    rng = random.Random(seed)
    a = data.draw(st.integers(0, 5))
    b = a + data.draw(st.integers(0, 30))
    size = b + len(energies) + 1
    weights = [rng.choice((1, 2, 5, 5, 5)) for _ in range(size)]
    surplus = [rng.choice((0, 0, 0, 100, 2500, 6000)) for _ in range(size)]
    brute = [sum(w * max(0, e - s) for e, w, s in zip(energies, weights[k:], surplus[k:], strict=False))
             for k in range(a, b + 1)]
    assert sweep_costs(energies, weights, surplus, a, b) == brute
