"""The exact reference (HiGHS): tiny instances with optima known by hand, capacity, and greedy ≥ exact."""

import builtins
import random
import sys

import pytest

from reconcile.errors import ReconcileError
from reconcile.planner.modulating import energy_shape
from reconcile.planner.plan import plan
from reconcile.planner.timetable import build_timetable
from reconcile.shell import optimal
from reconcile.shell.optimal import plan_cost, plan_optimal, solve
from tests.helpers import (
    HOUR,
    MIN,
    NOW,
    TOL,
    flat,
    home,
    interval,
    placement,
    run,
    run_loads,
    shape,
    slot_capacity,
    snap,
)

pytest.importorskip("highspy")

QUARTER = 15 * MIN
HOURS = [0.30, 0.10, 0.20, 0.05, 0.30, 0.25, 0.30, 0.30]  # per kWh, from NOW, hour by hour
PRICES = [interval(NOW + h * HOUR, NOW + (h + 1) * HOUR, p) for h, p in enumerate(HOURS * 2)]


def quarter_home(limit: float = 3000, hours: float = 8, objective: str = "cheapest"):
    return home(limit, slot_s=900, horizon_h=hours, objective=objective)


def quarters(watts: float, n: int):
    return flat(watts, n * 15)


def spans(p) -> list[tuple]:
    return [(s.start, s.end) for s in p.segments]


def test_one_run_goes_to_the_cheapest_hour() -> None:
    s = snap(run(1, quarters(2000, 4), latest_end=NOW + 6 * HOUR), h=quarter_home(), price=PRICES)
    assert placement(plan_optimal(s, NOW), 1).start == NOW + 3 * HOUR


def test_two_runs_that_cannot_overlap_share_the_two_cheapest_hours() -> None:
    """2 kW each under 3 kW: one in the 0.05 hour, the other in the 0.10 hour (either way 0.30 €);
    the tie-break on priority-weighted delay starts the higher priority first."""
    s = snap(run(1, quarters(2000, 4), latest_end=NOW + 6 * HOUR, priority_class=2),
             run(2, quarters(2000, 4), latest_end=NOW + 6 * HOUR, priority_class=9),
             h=quarter_home(), price=PRICES)
    result = plan_optimal(s, NOW)
    assert {p.execution_id: p.start for p in result.placements} == {2: NOW + HOUR, 1: NOW + 3 * HOUR}
    assert plan_cost(s, NOW.timestamp(), result.placements, s.runs)[0] == pytest.approx(0.30)


def test_the_deadline_keeps_the_run_out_of_the_cheapest_hour() -> None:
    """Due by +3 h: the 0.05 hour is out of reach; the 0.10 hour is the best."""
    s = snap(run(1, quarters(2000, 4), latest_end=NOW + 3 * HOUR), h=quarter_home(), price=PRICES)
    p = placement(plan_optimal(s, NOW), 1)
    assert (p.start, p.late_s) == (NOW + HOUR, None)


def test_an_interruptible_run_takes_the_two_cheapest_hours_apart() -> None:
    ev = run(1, quarters(2000, 8), interruptible=True, min_run_s=1800, min_pause_s=900,
             latest_end=NOW + 6 * HOUR)
    p = placement(plan_optimal(snap(ev, h=quarter_home(), price=PRICES), NOW), 1)
    assert spans(p) == [(NOW + HOUR, NOW + 2 * HOUR), (NOW + 3 * HOUR, NOW + 4 * HOUR)]


@pytest.mark.parametrize(("min_run", "expected"), [
    (0, [(2, 3), (4, 6)]),  # 0.01 + 0.2 + 0.2: split around the dear quarter
    (2700, [(2, 5)]),  # 45 minutes at least: 0.01 + 0.3 + 0.2 in one block beats 3 × 0.2
])
def test_the_minimum_run_decides_whether_a_lone_cheap_quarter_is_used(min_run, expected) -> None:
    price = [interval(NOW + i * QUARTER, NOW + (i + 1) * QUARTER, p)
             for i, p in enumerate([0.3, 0.3, 0.01, 0.3, 0.2, 0.2, 0.2, 0.3] * 4)]
    ev = run(1, quarters(1000, 3), interruptible=True, min_run_s=min_run, min_pause_s=900,
             latest_end=NOW + 2 * HOUR)
    p = placement(plan_optimal(snap(ev, h=quarter_home(hours=4), price=price), NOW), 1)
    assert spans(p) == [(NOW + a * QUARTER, NOW + b * QUARTER) for a, b in expected]


def test_pv_is_used_before_cheap_grid_power() -> None:
    pv = [interval(NOW + 5 * HOUR, NOW + 6 * HOUR, 2500)]
    s = snap(run(1, quarters(2000, 4), latest_end=NOW + 8 * HOUR), h=quarter_home(), price=PRICES, pv=pv)
    assert placement(plan_optimal(s, NOW), 1).start == NOW + 5 * HOUR


def test_a_run_that_never_fits_is_reported_not_crashed_on() -> None:
    s = snap(run(1, quarters(4000, 2)), run(2, quarters(1000, 2)), h=quarter_home(), price=PRICES)
    result = plan_optimal(s, NOW)
    assert [u.execution_id for u in result.unplaced] == [1]
    assert [p.execution_id for p in result.placements] == [2]


def random_snapshot(seed: int):
    rng = random.Random(seed)
    runs = []
    for i in range(1, rng.randint(2, 6) + 1):
        interruptible = rng.random() < 0.3
        n = rng.randint(1, 8)
        watts = [rng.choice((300, 800, 1500, 2200)) for _ in range(n)]
        if interruptible:  # a charger: constant power
            profile = shape(*[watts[0]] * n, slot_s=900)
        else:  # a cycle whose short peaks some quarters hide
            profile = shape(*watts, peaks=tuple(w + rng.choice((0, 300)) for w in watts), slot_s=900)
        earliest = NOW + rng.choice((0, 1, 2)) * HOUR
        pausing = 900 * rng.randint(0, 2) if interruptible else 0
        runs.append(run(i, profile, interruptible=interruptible, earliest_start=earliest,
                        latest_end=earliest + n * QUARTER + rng.randint(1, 6) * HOUR,
                        priority_class=rng.randint(1, 10), min_run_s=pausing, min_pause_s=pausing))
    sun = [0, 500, 1500, 2500, 2000, 800]
    pv = [interval(NOW + h * HOUR, NOW + (h + 1) * HOUR, w) for h, w in enumerate(sun)]
    return snap(*runs, h=quarter_home(rng.choice((3000, 4500)), hours=10), price=PRICES, pv=pv)


@pytest.mark.parametrize("seed", range(12))
def test_the_exact_plan_never_exceeds_capacity_and_never_costs_more_than_the_greedy_one(seed) -> None:
    s = random_snapshot(seed)
    now = NOW.timestamp()
    exact = solve(s, s.runs, now, time_limit_s=30)
    assert exact.status == "optimal"
    load: dict[int, float] = {}
    for p in exact.placements:
        r = next(r for r in s.runs if r.id == p.execution_id)
        assert p.start >= r.earliest_start
        assert sum((x.end - x.start).total_seconds() for x in p.segments) == pytest.approx(r.shape.duration_s)
        for k, watts in run_loads(s.home, NOW, r, p).items():
            load[k] = load.get(k, 0.0) + watts
    assert all(w <= slot_capacity(s, NOW, k) + TOL for k, w in load.items())
    greedy, _unplaced, _grid = build_timetable(s, s.runs, now)
    late = (sum(p.late_s or 0 for p in greedy), sum(p.late_s or 0 for p in exact.placements))
    assert late[1] <= late[0]
    if late[0] == late[1] and len(greedy) == len(exact.placements):
        tail = 40
        greedy_cost = plan_cost(s, now, greedy, s.runs, tail)[0]
        assert greedy_cost >= plan_cost(s, now, exact.placements, s.runs, tail)[0] - 1e-6


def test_the_plan_has_the_same_form_as_the_greedy_one() -> None:
    s = random_snapshot(3)
    exact, greedy = plan_optimal(s, NOW), plan(s, NOW)
    assert (exact.now, exact.priorities, exact.finished) == (greedy.now, greedy.priorities, greedy.finished)
    assert {p.execution_id for p in exact.placements} == {p.execution_id for p in greedy.placements}


def test_without_a_feasible_plan_in_time_the_greedy_plan_is_used(monkeypatch) -> None:
    monkeypatch.setattr(optimal, "_run_highs", lambda highspy, model, limit, start: (None, "time limit", None))
    s = random_snapshot(5)
    result = solve(s, s.runs, NOW.timestamp(), time_limit_s=0.001)
    assert result.status == "greedy fallback: time limit"
    assert result.placements == build_timetable(s, s.runs, NOW.timestamp())[0]


def test_a_missing_highspy_is_one_clear_error(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_highspy(name, *args, **kwargs):
        if name == "highspy":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "highspy", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_highspy)
    with pytest.raises(ReconcileError) as error:
        plan_optimal(random_snapshot(1), NOW)
    assert str(error.value) == "install the optimal extra: pip install 'wattplan[optimal]'"


def test_the_solver_prints_nothing(capfd) -> None:
    plan_optimal(random_snapshot(2), NOW)
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("seed", range(6))
def test_the_exact_plan_ranks_no_worse_than_the_greedy_one_it_starts_from(seed) -> None:
    s = random_snapshot(100 + seed)
    now = NOW.timestamp()
    exact = solve(s, s.runs, now, time_limit_s=30)
    greedy, unplaced, _grid = build_timetable(s, s.runs, now)
    assert optimal.plan_rank(s, now, s.runs, exact.placements, exact.unplaced) <= optimal.plan_rank(
        s, now, s.runs, greedy, unplaced)


def test_the_greedy_plan_is_the_solvers_start() -> None:
    from reconcile.planner.exact import build_model
    from reconcile.planner.exact_start import warm_start

    s = random_snapshot(4)
    now = NOW.timestamp()
    model = build_model(s, s.runs, now)
    start = warm_start(model, build_timetable(s, s.runs, now)[0])
    assert set(model.integer) <= set(start)  # every discrete column has a value: HiGHS only checks it


def charger(id: int, energy_wh: float, **fields):
    """An EV on a 6–30 A single-phase charger: 1.38 to 6.9 kW in 230 W steps."""
    return run(id, energy_shape(energy_wh, 6900.0), interruptible=True, min_power_w=1380.0, max_power_w=6900.0,
               power_step_w=230.0, **fields)


def test_a_modulating_charge_gets_stepped_power_in_the_cheap_hours_under_the_limit() -> None:
    s = snap(run(1, quarters(2000, 4), latest_end=NOW + 8 * HOUR), charger(2, 8000, latest_end=NOW + 8 * HOUR),
             h=quarter_home(6900), price=PRICES)
    result = solve(s, s.runs, NOW.timestamp(), time_limit_s=30)
    assert result.status == "optimal"
    charge = next(p for p in result.placements if p.execution_id == 2)
    assert sum(seg.energy_wh for seg in charge.segments) == pytest.approx(8000, abs=3)
    assert all(1380 <= seg.peak_w <= 6900 and (seg.peak_w - 1380) % 230 == 0 for seg in charge.segments)
    hours = {int((seg.start - NOW) / HOUR) for seg in charge.segments}
    assert hours <= {1, 3}  # the 0.10 and 0.05 hours; the washer takes what is left of one of them
    washer = next(p for p in result.placements if p.execution_id == 1)
    for seg in charge.segments:  # together under the limit
        overlap = min(seg.end, washer.end) > max(seg.start, washer.start)
        assert seg.peak_w + (2000 if overlap else 0) <= 6900


def test_a_continuous_charger_is_semi_continuous_and_as_cheap_as_the_greedy_fill() -> None:
    ev = run(1, energy_shape(5000, 6900.0), interruptible=True, min_power_w=1400.0, max_power_w=6900.0,
             latest_end=NOW + 8 * HOUR)
    s = snap(ev, h=quarter_home(3000), price=PRICES)
    now = NOW.timestamp()
    result = solve(s, s.runs, now, time_limit_s=30)
    (charge,) = result.placements
    assert all(1400 - 1e-6 <= seg.peak_w <= 3000 + 1e-6 for seg in charge.segments)
    greedy = build_timetable(s, s.runs, now)[0]
    assert plan_cost(s, now, result.placements, s.runs)[0] <= plan_cost(s, now, greedy, s.runs)[0] + 1e-6


def test_a_proven_plan_reports_its_gap_and_a_fallback_without_a_plan_reports_none(monkeypatch) -> None:
    """The relative gap HiGHS stopped at travels with the plan (bench/exact_times.py prints it)."""
    s = random_snapshot(7)
    now = NOW.timestamp()
    proven = solve(s, s.runs, now, time_limit_s=30)
    assert proven.status == "optimal"
    assert 0.0 <= proven.gap < 1e-3  # proven: within a tenth of a cent of the bound on a plan of several cents
    monkeypatch.setattr(optimal, "_run_highs", lambda highspy, model, limit, start: (None, "time limit", None))
    assert solve(s, s.runs, now).gap is None


@pytest.mark.parametrize("seed", range(12))
def test_the_greedy_start_holds_where_the_model_is_exact(seed) -> None:
    """Blocks and constant-power pausable runs are modelled exactly: the greedy plan breaks no row."""
    s = random_snapshot(seed)
    result = solve(s, s.runs, NOW.timestamp(), time_limit_s=30)
    assert result.start_held is True


def test_a_varying_pausable_profile_breaks_the_start_and_the_greedy_plan_still_floors_the_result() -> None:
    """The model gives a pausable run the peak of its whole remaining profile in every slot: a
    greedy plan running its light first quarters beside another load is then over the model's
    capacity, so HiGHS gets no start; the solve says so and still ranks no worse than greedy."""
    light_then_heavy = shape(500, 500, 2800, slot_s=900)
    s = snap(run(1, light_then_heavy, interruptible=True, latest_end=NOW + 2 * HOUR, priority_class=9),
             run(2, quarters(2000, 2), latest_end=NOW + 2 * HOUR, priority_class=1),
             h=quarter_home(3000, hours=4, objective="asap"), price=PRICES)
    now = NOW.timestamp()
    greedy, unplaced, _grid = build_timetable(s, s.runs, now)
    together = [p for p in greedy if p.start == NOW]
    assert len(together) == 2  # both start now: 500 + 2000 W under 3000
    result = solve(s, s.runs, now, time_limit_s=30)
    assert result.start_held is False
    assert optimal.plan_rank(s, now, s.runs, result.placements, result.unplaced) <= optimal.plan_rank(
        s, now, s.runs, greedy, unplaced)


def varying_snapshot(seed: int):
    """random_snapshot's mix, but the pausable runs are programs of random quarters, not constant chargers."""
    rng = random.Random(seed)
    runs = []
    for i in range(1, rng.randint(2, 5) + 1):
        n = rng.randint(2, 6)
        watts = [rng.choice((300, 800, 1500, 2200)) for _ in range(n)]
        interruptible = i <= 2
        earliest = NOW + rng.choice((0, 1, 2)) * HOUR
        runs.append(run(i, shape(*watts, peaks=tuple(w + rng.choice((0, 300)) for w in watts), slot_s=900),
                        interruptible=interruptible, earliest_start=earliest,
                        latest_end=earliest + n * QUARTER + rng.randint(1, 4) * HOUR, priority_class=rng.randint(1, 10),
                        min_run_s=900 * rng.randint(0, 2) if interruptible else 0,
                        min_pause_s=900 * rng.randint(0, 1) if interruptible else 0))
    sun = [0, 500, 1500, 2500, 2000, 800]
    pv = [interval(NOW + h * HOUR, NOW + (h + 1) * HOUR, w) for h, w in enumerate(sun)]
    return snap(*runs, h=quarter_home(rng.choice((3000, 4500)), hours=8), price=PRICES, pv=pv)


@pytest.mark.parametrize("seed", range(10))
def test_varying_pausable_programs_fit_the_capacity_and_rank_no_worse(seed) -> None:
    """Modelled at the peak of their whole rest in every slot (cautious): whatever the start, the
    plan fits and ranks no worse than the greedy one."""
    s = varying_snapshot(seed)
    now = NOW.timestamp()
    exact = solve(s, s.runs, now, time_limit_s=30)
    load: dict[int, float] = {}
    for p in exact.placements:
        r = next(r for r in s.runs if r.id == p.execution_id)
        assert sum((x.end - x.start).total_seconds() for x in p.segments) == pytest.approx(r.shape.duration_s)
        for k, watts in run_loads(s.home, NOW, r, p).items():
            load[k] = load.get(k, 0.0) + watts
    assert all(w <= slot_capacity(s, NOW, k) + TOL for k, w in load.items())
    greedy, unplaced, _grid = build_timetable(s, s.runs, now)
    assert optimal.plan_rank(s, now, s.runs, exact.placements, exact.unplaced) <= optimal.plan_rank(
        s, now, s.runs, greedy, unplaced)
