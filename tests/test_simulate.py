"""The simulator: hand-computed metrics on small scenarios, determinism, and the sample day."""

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from reconcile.errors import ReconcileError
from reconcile.presentation import comparison
from reconcile.presentation.comparison import comparison_table, result_as_dict, run_demo
from reconcile.presentation.svg import render_svg
from reconcile.simulation.history import count_churn, spans_from_decisions
from reconcile.simulation.metrics import percentile
from reconcile.simulation.scenario import builtin_scenario, load_scenario
from reconcile.simulation.simulate import simulate

HEADER = """
version = 1
name = "{name}"
start = 2026-06-30T08:00:00Z
end = "{end}"

[home]
limit = "{limit}"
timezone = "UTC"
reserve = "{reserve}"
"""

TWO_KW = """
[[appliances]]
name = "{name}"
{extra}

[[programs]]
appliance = "{name}"
name = "run"
watts = {watts}
"""


def at(clock: str) -> datetime:
    hours, minutes = map(int, clock.split(":"))
    return datetime(2026, 6, 30, hours, minutes, tzinfo=UTC)


def appliance(name: str, minutes: int = 30, watts: float = 2000, extra: str = "") -> str:
    return TWO_KW.format(name=name, extra=extra, watts=[watts] * minutes)


def request(label: str, name: str, clock: str = "08:00", extra: str = "") -> str:
    return (f'\n[[events]]\ntype = "request"\nat = "{clock}"\nlabel = "{label}"\n'
            f'appliance = "{name}"\n{extra}\n')


def end_event(label: str, clock: str, kind: str = "done") -> str:
    return f'\n[[events]]\ntype = "end"\nat = "{clock}"\nlabel = "{label}"\nkind = "{kind}"\n'


def scenario(tmp_path: Path, *parts: str, limit: str = "3kW", reserve: str = "0", end: str = "09:30",
             name: str = "hand"):
    path = tmp_path / f"{name}.toml"
    path.write_text(HEADER.format(name=name, end=end, limit=limit, reserve=reserve) + "".join(parts))
    return load_scenario(path)


def both(s):
    return simulate(s, policy="wattplan"), simulate(s, policy="immediate")


def by_label(result):
    return {e.label: e for e in result.executions}


# --- hand-computed metrics -------------------------------------------------------------------


def test_one_run_that_fits_draws_its_profile_and_waits_for_nothing(tmp_path):
    s = scenario(tmp_path, appliance("heater"), request("a", "heater"))
    for result in both(s):
        m = result.metrics
        assert m.energy_imported_kwh == pytest.approx(1.0)
        assert m.appliance_kwh == pytest.approx(1.0)
        assert (m.peak_import_w, m.minutes_above_limit) == (2000.0, 0)
        assert [(w.priority_class, w.runs, w.mean_min, w.max_min) for w in m.waits] == [(5, 1, 0.0, 0.0)]
        (run,) = result.executions
        assert (run.first_start, run.ended_at, run.end_reason) == (at("08:00"), at("08:30"), "completed")
        assert (m.deadline_misses, m.pauses, m.never_started) == (0, 0, 0)


def test_base_load_adds_to_the_peak_and_the_energy(tmp_path):
    s = scenario(tmp_path, appliance("heater"), request("a", "heater"), reserve="500W")
    m = simulate(s).metrics
    assert m.peak_import_w == 2500.0
    assert m.energy_imported_kwh == pytest.approx(1.0 + 0.5 * 1.5)  # the run, and 500 W for 90 minutes
    assert m.consumption_kwh == pytest.approx(1.75)


def test_two_runs_over_the_limit_the_baseline_trips_wattplan_queues(tmp_path):
    s = scenario(tmp_path, appliance("a"), appliance("b"), request("first", "a"), request("second", "b"))
    wattplan, immediate = both(s)
    assert (immediate.metrics.peak_import_w, immediate.metrics.minutes_above_limit) == (4000.0, 30)
    assert (wattplan.metrics.peak_import_w, wattplan.metrics.minutes_above_limit) == (2000.0, 0)
    runs = by_label(wattplan)
    assert (runs["first"].first_start, runs["second"].first_start) == (at("08:00"), at("08:30"))
    (waits,) = wattplan.metrics.waits
    assert (waits.runs, waits.mean_min, waits.p95_min, waits.max_min) == (2, 15.0, 30.0, 30.0)
    assert wattplan.metrics.energy_imported_kwh == pytest.approx(immediate.metrics.energy_imported_kwh)
    assert wattplan.metrics.energy_imported_kwh == pytest.approx(2.0)
    assert (wattplan.metrics.decisions, wattplan.metrics.plan_churn) == (4, 0)  # two starts, two stops
    assert (immediate.metrics.decisions, immediate.metrics.plan_churn, immediate.metrics.tick_time) == (
        None, None, None)


def test_ending_a_run_early_frees_its_power_at_once(tmp_path):
    s = scenario(tmp_path, appliance("a"), appliance("b"), request("first", "a"), request("second", "b"),
                 end_event("first", "08:10"))
    wattplan = simulate(s)
    runs = by_label(wattplan)
    assert (runs["first"].ended_at, runs["first"].end_reason) == (at("08:10"), "done")
    assert runs["second"].first_start == at("08:10")
    assert wattplan.metrics.energy_imported_kwh == pytest.approx(2 * 10 / 60 + 1.0)
    assert wattplan.metrics.minutes_above_limit == 0


def test_a_cancelled_request_never_starts(tmp_path):
    s = scenario(tmp_path, appliance("a"), appliance("b"), request("first", "a"), request("second", "b"),
                 end_event("second", "08:05", "cancel"))
    wattplan, immediate = both(s)
    assert by_label(wattplan)["second"].spans == ()
    assert (by_label(wattplan)["second"].end_reason, wattplan.metrics.never_started) == ("cancelled", 1)
    assert [w.runs for w in wattplan.metrics.waits] == [1]  # a run that never started has no wait
    # the baseline had started it: five minutes of 4 kW, then the user stopped it
    assert by_label(immediate)["second"].spans[0].end == at("08:05")
    assert immediate.metrics.minutes_above_limit == 5


def test_a_minute_counts_if_the_limit_is_exceeded_at_any_moment_of_it(tmp_path):
    s = scenario(tmp_path, appliance("a"), appliance("b"), request("first", "a"), request("second", "b"),
                 end_event("second", "2026-06-30T08:05:30Z", "cancel"))
    m = simulate(s, policy="immediate").metrics
    assert m.minutes_above_limit == 6  # 08:00 to 08:05:30: the sixth minute only half
    assert m.appliance_kwh == pytest.approx(1.0 + 2 * 5.5 / 60)


def test_ending_a_run_after_its_program_is_over_changes_nothing(tmp_path):
    s = scenario(tmp_path, appliance("a"), request("first", "a"), end_event("first", "08:45"))
    for result in both(s):
        run = by_label(result)["first"]
        assert (run.ended_at, run.end_reason) == (at("08:30"), "completed")
        assert result.notes == ("done of 'first' at 2026-06-30T08:45:00+00:00 ignored: "
                                "its program was already over",)


def test_done_before_the_run_started_counts_as_a_cancel_with_a_note(tmp_path):
    s = scenario(tmp_path, appliance("a"), appliance("b"), request("first", "a"), request("second", "b"),
                 end_event("second", "08:05", "done"))
    wattplan = simulate(s)
    assert by_label(wattplan)["second"].end_reason == "cancelled"
    assert wattplan.notes == ("done of 'second' at 2026-06-30T08:05:00+00:00 applied as cancel: "
                              "the run had not started",)


def test_a_late_run_is_a_deadline_miss_with_its_lateness(tmp_path):
    s = scenario(tmp_path, appliance("a", extra="priority_class = 8"), appliance("b"),
                 request("urgent", "a"), request("tight", "b", extra='within = "40m"'))
    wattplan, immediate = both(s)
    tight = by_label(wattplan)["tight"]
    assert (tight.first_start, tight.ended_at, tight.latest_end) == (at("08:30"), at("09:00"), at("08:40"))
    assert (wattplan.metrics.deadline_misses, wattplan.metrics.lateness_min) == (1, 20.0)
    assert (immediate.metrics.deadline_misses, immediate.metrics.lateness_min) == (0, 0.0)


def test_a_run_not_done_by_a_deadline_at_the_scenarios_end_is_a_miss(tmp_path):
    """Issue 11: a deadline at the scenario's end was never judged (the run was still open at the
    end, so "closed" was the end itself, not after the deadline)."""
    s = scenario(tmp_path, appliance("ev", minutes=120, extra="interruptible = true"),
                 request("car", "ev", extra='by = "09:30"'), end="09:30")
    wattplan = simulate(s)
    car = by_label(wattplan)["car"]
    assert car.ended_at is None and car.latest_end == at("09:30")
    assert wattplan.metrics.deadline_misses == 1


def test_a_pausable_run_yields_to_a_higher_priority_and_resumes(tmp_path):
    s = scenario(tmp_path, appliance("ev", minutes=60, extra="interruptible = true\npriority_class = 3"),
                 appliance("oven", minutes=10, extra="priority_class = 9"),
                 request("car", "ev"), request("roast", "oven", "08:20"))
    wattplan, immediate = both(s)
    car = by_label(wattplan)["car"]
    assert [(sp.start, sp.end, sp.offset_s) for sp in car.spans] == [
        (at("08:00"), at("08:20"), 0.0), (at("08:30"), at("09:10"), 1200.0)]
    assert (car.pauses, wattplan.metrics.pauses, wattplan.metrics.minutes_above_limit) == (1, 1, 0)
    assert (immediate.metrics.minutes_above_limit, immediate.metrics.peak_import_w) == (10, 4000.0)
    for result in (wattplan, immediate):
        assert result.metrics.appliance_kwh == pytest.approx(2.0 + 2 * 10 / 60)


def test_pv_self_consumption_self_sufficiency_and_cost(tmp_path):
    forecasts = """
[[forecasts]]
kind = "pv"
start = 2026-06-30T08:00:00Z
slot = "1h"
values = [1000, 1000]

[[forecasts]]
kind = "price"
start = 2026-06-30T08:00:00Z
slot = "1h"
values = [0.20, 0.30]
"""
    s = scenario(tmp_path, appliance("heater"), forecasts, request("a", "heater"))
    m = simulate(s).metrics
    assert m.peak_import_w == 1000.0  # 2 kW of load, 1 kW of it from the roof
    assert (m.pv_kwh, m.consumption_kwh, m.energy_imported_kwh) == pytest.approx((1.5, 1.0, 0.5))
    assert (m.pv_self_consumption, m.self_sufficiency) == pytest.approx((0.5 / 1.5, 0.5))
    assert (m.cost, m.uncosted_kwh) == pytest.approx((0.5 * 0.20, 0.0))


def test_a_forecast_update_is_the_world_both_policies_see(tmp_path):
    update = """
[[events]]
type = "forecast"
at = "08:00"

[events.series]
kind = "base"
start = 2026-06-30T09:00:00Z
slot = "1h"
values = [1500]
"""
    s = scenario(tmp_path, appliance("a"), update, request("late", "a", "09:00"))
    wattplan, immediate = both(s)
    # from 09:00 the base is 1.5 kW: 2 kW more does not fit under 3 kW, the baseline trips anyway
    assert (immediate.metrics.minutes_above_limit, immediate.metrics.peak_import_w) == (30, 3500.0)
    assert wattplan.metrics.minutes_above_limit == 0
    assert by_label(wattplan)["late"].spans == ()
    assert wattplan.metrics.never_started == 1


def test_prices_of_unknown_hours_are_reported_not_guessed(tmp_path):
    s = scenario(tmp_path, appliance("heater"), request("a", "heater"))
    m = simulate(s).metrics
    assert (m.cost, m.uncosted_kwh) == (None, pytest.approx(1.0))
    assert m.pv_self_consumption is None


# --- pieces ------------------------------------------------------------------------------------


def test_spans_come_from_start_pause_resume_and_end_at_the_profile_end():
    decisions = [("start", at("08:00")), ("pause", at("08:10")), ("resume", at("08:20")),
                 ("stop", at("09:00"))]
    spans = spans_from_decisions(decisions, 30 * 60, at("12:00"))
    assert [(s.start, s.end, s.offset_s) for s in spans] == [
        (at("08:00"), at("08:10"), 0.0), (at("08:20"), at("08:40"), 600.0)]


def test_churn_counts_moves_of_a_waiting_runs_planned_start():
    churn: dict[int, int] = {}
    before = {1: ("pending", "09:00"), 2: ("paused", "09:00"), 3: ("pending", "09:00")}
    after = {1: ("pending", "09:05"), 2: ("paused", "09:00"), 3: ("running", "08:01")}
    count_churn(before, after, churn)
    assert churn == {1: 1}  # 2 kept its plan, 3 started: neither is churn


def test_percentile_is_the_nearest_rank():
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([7.0], 95) == 7.0


def test_an_unknown_policy_is_an_error(tmp_path):
    with pytest.raises(ReconcileError, match="unknown policy 'fifo': choose wattplan, immediate"):
        simulate(scenario(tmp_path), policy="fifo")


def test_progress_is_reported_after_every_tick(tmp_path):
    seen = []
    simulate(scenario(tmp_path, end="08:05"), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


# --- determinism ---------------------------------------------------------------------------------


def test_the_same_scenario_gives_the_same_result_every_run(tmp_path):
    s = scenario(tmp_path, appliance("ev", minutes=60, extra="interruptible = true\nmin_run = \"5m\""),
                 appliance("oven", minutes=10, extra="priority_class = 9"), appliance("b"),
                 request("car", "ev"), request("roast", "oven", "08:20"), request("wash", "b", "08:21"),
                 end_event("wash", "09:01"))
    first, second = simulate(s), simulate(s)
    assert first.metrics.without_timing() == second.metrics.without_timing()
    assert first.executions == second.executions
    assert (first.timeline, first.notes) == (second.timeline, second.notes)
    assert json.dumps(result_as_dict(first)["executions"]) == json.dumps(result_as_dict(second)["executions"])


# --- rendering -------------------------------------------------------------------------------


def test_json_table_and_picture_of_a_small_comparison(tmp_path):
    s = scenario(tmp_path, appliance("a"), appliance("b"), request("first", "a"), request("second", "b"))
    results = list(both(s))
    data = json.loads(json.dumps(result_as_dict(results[0])))
    assert set(data) == {"scenario", "policy", "start", "end", "timezone", "limit_w", "metrics",
                         "executions", "notes"}
    assert data["metrics"]["minutes_above_limit"] == 0
    assert data["executions"][1]["wait_min"] == 30.0
    assert data["executions"][1]["spans"] == [{"start": "2026-06-30T08:30:00Z", "end": "2026-06-30T09:00:00Z",
                                              "offset_s": 0.0, "power_w": None}]
    console = Console(record=True, width=120)
    console.print(comparison_table(results))
    text = console.export_text()
    assert "minutes above limit" in text and "wattplan" in text and "immediate" in text
    svg = render_svg(results)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "30 min above the limit" in svg and "never above the limit" in svg


# --- the sample day --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_day():
    s = builtin_scenario("sample_day")
    return s, [simulate(s, policy="wattplan"), simulate(s, policy="immediate")]


def test_sample_day_wattplan_stays_under_the_limit_the_baseline_does_not(sample_day):
    _, (wattplan, immediate) = sample_day
    assert wattplan.metrics.minutes_above_limit == 0
    assert wattplan.metrics.peak_import_w <= 4600
    assert immediate.metrics.minutes_above_limit > 0
    assert immediate.metrics.peak_import_w > 4600
    assert wattplan.metrics.deadline_misses == 0
    assert wattplan.metrics.appliance_kwh == pytest.approx(immediate.metrics.appliance_kwh)
    assert wattplan.notes == ()


def test_demo_writes_the_picture_and_reports_progress(sample_day, tmp_path, monkeypatch):
    scenario_, results = sample_day
    calls = []

    def replay(s, *, policy, progress):
        calls.append((s.name, policy))
        progress(1, 1)
        return results[0] if policy == "wattplan" else results[1]

    monkeypatch.setattr(comparison, "simulate", replay)
    console = Console(record=True, width=100, force_terminal=False)
    got, path = run_demo(tmp_path, console, datetime(2026, 7, 2, 9, 0, tzinfo=UTC) + timedelta(0))
    assert calls == [(scenario_.name, "wattplan"), (scenario_.name, "immediate")]
    assert (got, path) == (results, tmp_path / "wattplan-demo.svg")
    assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_with_a_cost_objective_the_sample_days_plans_do_not_change_without_new_input():
    """Issue 11: with `cheapest`, plans moved back and forth between ticks with no new request,
    cancellation or forecast (22 changes on one day); the newest plan is now the incumbent."""
    s = builtin_scenario("sample_day")
    result = simulate(replace(s, home=replace(s.home, objective="cheapest")))
    assert result.metrics.plan_churn == 0
    assert result.metrics.deadline_misses == 0
