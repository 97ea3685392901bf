"""`wattplan plan SCENARIO`: a scenario planned once at its start, every request known (issue 11, item 6)."""

import importlib.util
import json

import pytest

from tests.cli_home import error, wattplan

SCENARIO = """
version = 1
name = "what if"
start = 2026-06-30T08:00:00Z
end = "12:00"

[home]
limit = "3kW"
timezone = "UTC"

[[appliances]]
name = "ev"
interruptible = true

[[programs]]
appliance = "ev"
name = "charge"
watts = {ev}

[[appliances]]
name = "washer"

[[programs]]
appliance = "washer"
name = "eco"
watts = {washer}

[[events]]
type = "request"
at = "08:00"
label = "car"
appliance = "ev"
by = "09:30"

[[events]]
type = "request"
at = "09:00"
label = "wash"
appliance = "washer"
within = "3h"
"""


@pytest.fixture
def what_if(tmp_path):
    path = tmp_path / "what_if.toml"
    path.write_text(SCENARIO.format(ev=[2000] * 120, washer=[2500] * 30))
    return path


def test_plan_prints_every_request_placed_with_cost_and_peak(what_if) -> None:
    data = json.loads(wattplan("plan", what_if, "--json").stdout)
    placed = {p["label"]: p for p in data["placements"]}
    assert set(placed) == {"car", "wash"} and data["unplaced"] == []
    assert placed["car"]["start"] == "2026-06-30T08:00:00Z"
    assert placed["wash"]["start"] >= "2026-06-30T09:00:00Z"  # known at the start, not placed before it is asked
    assert 0 < data["peak_w"] <= data["limit_w"] and data["imported_wh"] > 0 and data["planning_ms"] >= 0
    assert data["planner"] == "greedy" and data["now"] == "2026-06-30T08:00:00Z"


def test_a_run_that_cannot_finish_by_its_deadline_is_listed_late_with_the_energy_it_misses(what_if) -> None:
    """Two hours of charging asked for within an hour and a half: 30 minutes at 2 kW are missed."""
    data = json.loads(wattplan("plan", what_if, "--json").stdout)
    car = next(p for p in data["placements"] if p["label"] == "car")
    assert data["late"] == [car["execution_id"]]
    assert (car["late_s"], car["missed_wh"]) == (1800, pytest.approx(1000))


def test_the_table_names_the_requests_and_the_totals(what_if) -> None:
    text = wattplan("plan", what_if).stdout
    assert "car" in text and "wash" in text and "30m" in text and "1.00 kWh" in text
    assert "greedy plan at" in text and "1 late or short" in text


@pytest.mark.skipif(importlib.util.find_spec("highspy") is None, reason="the optimal extra is not installed")
def test_the_exact_planner_plans_the_same_requests(what_if) -> None:
    data = json.loads(wattplan("plan", what_if, "--planner", "optimal", "--json").stdout)
    assert data["planner"] == "optimal"
    assert {p["label"] for p in data["placements"]} == {"car", "wash"}


def test_bad_input_is_one_line_and_exit_code_1(what_if, tmp_path) -> None:
    missing = error("plan", tmp_path / "none.toml")
    assert missing == "error: scenario none.toml: cannot read: No such file or directory\n"
    assert error("plan", what_if, "--planner", "fast") == "error: --planner must be greedy or optimal, got 'fast'\n"
    broken = tmp_path / "broken.toml"
    broken.write_text(what_if.read_text().replace("version = 1", "version = 2"))
    assert error("plan", broken).startswith("error: scenario broken.toml: version: must be 1")
