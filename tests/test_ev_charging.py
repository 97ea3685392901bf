"""End to end: an EV asked for "20 kWh by 07:00" from the CLI is charged at varying power under the
limit, by the tick, in `simulate` and in its picture (issue 11, item 4)."""

import json
from datetime import datetime

from tests.cli_home import error, rows, wattplan

EVENING = "2026-12-01T20:00"  # Europe/Lisbon: UTC in winter


def test_an_ev_asked_from_the_cli_charges_at_what_the_washer_leaves(db):
    wattplan("init", "--limit", "6.9kW", "--timezone", "Europe/Lisbon", "--slot", "15m")
    assert wattplan("appliance", "add", "ev", "--current", "6-30A").stdout == (
        "added modulating appliance 'ev': 1.38kW to 6.9kW in steps of 230W\n")
    wattplan("appliance", "add", "washer")
    wattplan("profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h30m")
    assert wattplan("enqueue", "ev", "--energy", "20kWh", "--by", "07:00", "--now", EVENING).stdout == "1\n"
    wattplan("enqueue", "washer", "--within", "3h", "--now", EVENING)
    tick = json.loads(wattplan("tick", "--now", EVENING, "--json").stdout)
    assert {(d["execution_id"], d["kind"], d["power_w"]) for d in tick["decisions"]} == {
        (1, "start", 4830.0), (2, "start", None)}  # 6 A + 15 A: the most under 6.9 kW − 2 kW
    state = json.loads(wattplan("state", "--now", EVENING, "--json").stdout)
    assert [(s["appliance"], s["should_run"], s["power_w"]) for s in state] == [
        ("ev", True, 4830.0), ("washer", True, None)]
    # The slot_load view counts the charger at its setpoint (one stretch, one setpoint).
    assert rows(db, "SELECT planned_w, capacity_w FROM slot_load ORDER BY slot_start_utc LIMIT 1") == [(6830.0, 6900.0)]
    listed = {r["appliance"]: r for r in json.loads(wattplan("list", "--json").stdout)}
    assert listed["ev"]["duration_s"] == round(20_000 * 3600 / 6900)  # progress_s counts at full power
    plan = json.loads(wattplan("timetable", "--json").stdout)
    assert all(s["planned_w"] <= s["capacity_w"] for s in plan["slots"])
    charge = [e for e in plan["entries"] if e["appliance"] == "ev"]
    assert len({e["peak_w"] for e in charge}) >= 2  # its power varies: less beside the washer
    assert abs(sum(e["energy_wh"] for e in charge) - 20_000) < 5
    assert max(datetime.fromisoformat(e["end"]) for e in charge) <= datetime.fromisoformat("2026-12-02T07:00Z")
    # When the washer is done, the charger is told its new setpoint: a resume at the higher power.
    for minute in range(1, 92):
        wattplan("tick", "--now", f"2026-12-01T{20 + minute // 60}:{minute % 60:02d}")
    decided = json.loads(wattplan("decisions", "--now", "2026-12-01T21:32", "--json").stdout)
    assert ("resume", 6900.0) in {(d["kind"], d["power_w"]) for d in decided if d["execution_id"] == 1}


def test_modulating_input_that_cannot_work_is_one_line(db):
    wattplan("init", "--limit", "6.9kW", "--timezone", "Europe/Lisbon")
    assert error("appliance", "add", "ev", "--current", "6-32A") == (
        "error: program 'charge' peaks at 7.36kW, above the home's limit of 6.9kW: it could never run\n")
    assert error("appliance", "add", "ev", "--min-power", "3kW", "--max-power", "2kW") == (
        "error: --min-power 3kW is above --max-power 2kW\n")
    assert error("appliance", "add", "ev", "--max-power", "2kW", code=2) == (
        "error: a modulating appliance needs both --min-power and --max-power\n")
    assert error("appliance", "add", "ev", "--current", "32A") == (
        "error: --current '32A' is not a range of amperes like 6-32A\n")
    wattplan("appliance", "add", "ev", "--min-power", "1.4kW", "--max-power", "6.9kW")
    assert error("enqueue", "ev") == "error: appliance 'ev' modulates: ask for an energy, e.g. --energy 20kWh\n"
    assert error("enqueue", "ev", "--energy", "20") == (
        "error: --energy '20' is not an energy like 20kWh or 500Wh\n")
    assert error("enqueue", "ev", "--energy", "400kWh") == (
        "error: an energy of 400kWh takes 57h58m16s at 6.9kW, longer than the longest accepted, 48h\n")


SCENARIO = """
version = 1
name = "ev_short_night"
start = 2026-12-02T03:00:00+00:00
end = "2026-12-02T07:30"

[home]
limit = "6.9kW"
timezone = "Europe/Lisbon"
slot = "15m"
horizon = "6h"
reserve = "300W"

[[appliances]]
name = "ev"
min_power = "1380W"
max_power = "6900W"
power_step = "230W"

[[appliances]]
name = "washer"

[[programs]]
appliance = "washer"
name = "eco"
slot = "15m"
watts = [2000, 2000, 2000, 2000, 2000, 2000]

[[events]]
type = "request"
at = "03:00"
label = "car"
appliance = "ev"
energy = "20kWh"
by = "07:00"

[[events]]
type = "request"
at = "03:00"
label = "wash"
appliance = "washer"
within = "2h"
"""


def test_simulate_charges_20_kwh_by_7_at_varying_power_under_the_limit_and_draws_it(tmp_path):
    path, picture = tmp_path / "ev.toml", tmp_path / "ev.svg"
    path.write_text(SCENARIO)
    result = json.loads(wattplan("simulate", path, "--json", "--plot", picture).stdout)
    metrics = result["metrics"]
    assert metrics["minutes_above_limit"] == 0 and metrics["peak_import_w"] <= 6900
    assert metrics["deadline_misses"] == 0
    (car,) = [e for e in result["executions"] if e["label"] == "car"]
    assert car["end_reason"] == "completed"
    powers = [s["power_w"] for s in car["spans"]]
    assert len(set(powers)) >= 2 and all(1380 <= p <= 6900 for p in powers)
    charged = sum(s["power_w"] * (datetime.fromisoformat(s["end"]) - datetime.fromisoformat(s["start"]))
                  .total_seconds() / 3600 for s in car["spans"])
    assert abs(charged - 20_000) < 20
    svg = picture.read_text()
    assert "ev (modulating: setpoint dashed)" in svg and "<title>ev setpoint</title>" in svg
    assert "4.60 kW" in svg and "6.44 kW" in svg  # beside the washer (6.9 − 0.3 − 2 kW), then alone
