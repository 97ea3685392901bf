"""`forecast import|show`, `init --planner optimal` and `simulate --policy optimal`, end to end."""

import json

import pytest

from tests.cli_home import T0, error, rows, tick, wattplan

PRICES = "timestamp,value\n2026-06-30T10:00,0.30\n2026-06-30T11:00,0.10\n2026-06-30T12:00,0.20\n"


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("WATTPLAN_DB", str(tmp_path / "wattplan.db"))
    return tmp_path / "wattplan.db"


@pytest.fixture
def priced(tmp_path, db):
    wattplan("init", "--limit", "4.6kW", "--timezone", "Europe/Berlin", "--reserve", "300W")
    (tmp_path / "prices.csv").write_text(PRICES)
    return tmp_path / "prices.csv"


def test_forecast_import_stores_the_resampled_series_and_show_lists_it(priced, db):
    said = wattplan("forecast", "import", "price", priced).stdout
    assert said == "imported 3 price values as 3 intervals, 2026-06-30 08:00 to 2026-06-30 11:00 UTC\n"
    shown = json.loads(wattplan("forecast", "show", "price", "--json").stdout)
    assert [(r["start"], r["value"], r["unit"]) for r in shown] == [
        ("2026-06-30T10:00+02:00", 0.3, "per kWh"), ("2026-06-30T11:00+02:00", 0.1, "per kWh"),
        ("2026-06-30T12:00+02:00", 0.2, "per kWh")]
    assert rows(db, "SELECT count(*) FROM forecast WHERE kind = 'price'") == [(3,)]


def test_forecast_import_refuses_a_bad_row_and_stores_nothing(priced, db):
    priced.write_text("timestamp,value\n2026-06-30T10:00,abc\n")
    assert error("forecast", "import", "price", priced) == "error: line 2: the value is not a number\n"
    assert rows(db, "SELECT count(*) FROM forecast") == [(0,)]


def test_forecast_import_refuses_an_unknown_kind(priced):
    assert error("forecast", "import", "wind", priced).startswith("error: unknown forecast kind 'wind'")


def test_cheapest_objective_moves_a_run_into_the_cheap_hour(priced, db):
    wattplan("forecast", "import", "price", priced)
    wattplan("appliance", "add", "washer")
    wattplan("profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h")
    wattplan("enqueue", "washer", "--within", "5h", "--objective", "cheapest", "--now", "2026-06-30T10:00")
    tick("2026-06-30T10:00")
    assert rows(db, "SELECT planned_start FROM execution") == [("2026-06-30 09:00:00.000000",)]


def test_the_optimal_planner_plans_and_starts_runs(priced, db):
    pytest.importorskip("highspy")
    wattplan("init", "--planner", "optimal")
    wattplan("forecast", "import", "price", priced)
    wattplan("appliance", "add", "washer")
    wattplan("profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h")
    wattplan("enqueue", "washer", "--within", "5h", "--objective", "cheapest", "--now", T0)
    assert "1 planned" in tick(T0)
    assert rows(db, "SELECT planner FROM home") == [("optimal",)]
    # least cost: the 11:00 local hour (0.10 per kWh); unpriced hours count at the dearest price
    assert rows(db, "SELECT planned_start FROM execution") == [("2026-06-30 09:00:00.000000",)]


SHORT = """
version = 1
name = "short"
start = "2026-06-30T08:00:00+02:00"
end = "08:40"
[home]
limit = "3kW"
timezone = "Europe/Berlin"
reserve = "200W"
[[appliances]]
name = "heater"
[[programs]]
appliance = "heater"
name = "boost"
slot = "1m"
watts = [2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000]
source = "made up"
[[appliances]]
name = "kettle"
[[programs]]
appliance = "kettle"
name = "boil"
slot = "1m"
watts = [2000, 2000, 2000]
source = "made up"
[[events]]
type = "request"
at = "08:05"
label = "heat"
appliance = "heater"
within = "30m"
[[events]]
type = "request"
at = "08:06"
label = "tea"
appliance = "kettle"
within = "30m"
"""


def test_simulate_with_the_optimal_policy_stays_under_the_limit(tmp_path):
    pytest.importorskip("highspy")
    (tmp_path / "short.toml").write_text(SHORT)
    result = json.loads(wattplan("simulate", tmp_path / "short.toml", "--policy", "optimal", "--json").stdout)
    assert result["policy"] == "optimal"
    assert result["metrics"]["minutes_above_limit"] == 0


def test_simulate_refuses_an_unknown_policy(tmp_path):
    (tmp_path / "short.toml").write_text(SHORT)
    said = error("simulate", tmp_path / "short.toml", "--policy", "magic")
    assert said.startswith("error: unknown policy 'magic'")
