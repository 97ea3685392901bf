"""`wattplan appliance set`: an appliance's settings changed after it was added. The power range
reaches open runs at the next tick; the maximum waits for no open run; refusals change nothing."""

import json
import sqlite3

from tests.cli_home import error, wattplan

EVENING = "2026-12-01T20:00"  # Europe/Lisbon: UTC in winter


def ev_beside_washer(db):
    """A 6.9 kW home: a 1.38-6.9 kW charger in 230 W steps and a 2 kW washer, both asked for."""
    wattplan("init", "--limit", "6.9kW", "--timezone", "Europe/Lisbon", "--slot", "15m")
    wattplan("appliance", "add", "ev", "--current", "6-30A")
    wattplan("appliance", "add", "washer")
    wattplan("profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h30m")
    wattplan("enqueue", "ev", "--energy", "20kWh", "--by", "07:00", "--now", EVENING)
    wattplan("enqueue", "washer", "--within", "3h", "--now", EVENING)


def setpoint(at: str) -> float | None:
    state = json.loads(wattplan("state", "--now", at, "--json").stdout)
    return next(s["power_w"] for s in state if s["appliance"] == "ev")


def dump(db) -> list[str]:
    with sqlite3.connect(db) as connection:
        return list(connection.iterdump())


def test_a_new_step_and_minimum_reach_the_open_run_at_the_next_tick(db):
    ev_beside_washer(db)
    wattplan("tick", "--now", EVENING)
    assert setpoint(EVENING) == 4830.0  # 21 A: the most under 4.9 kW in whole amperes
    assert wattplan("appliance", "set", "ev", "--step", "none").stdout == "ev: 1.38kW to 6.9kW\n"
    wattplan("tick", "--now", "2026-12-01T20:01")
    assert setpoint("2026-12-01T20:01") == 4900.0  # any power now: all the washer leaves
    assert wattplan("appliance", "set", "ev", "--min-power", "5kW").stdout == "ev: 5kW to 6.9kW\n"
    wattplan("tick", "--now", "2026-12-01T20:02")
    assert setpoint("2026-12-01T20:02") is None  # 4.9 kW left is below its new minimum: it pauses
    shown = json.loads(wattplan("appliance", "show", "ev", "--json").stdout)
    assert (shown["min_power_w"], shown["max_power_w"], shown["power_step_w"]) == (5000.0, 6900.0, None)


def test_the_maximum_changes_only_without_an_open_run_and_a_refusal_changes_nothing(db):
    ev_beside_washer(db)
    wattplan("tick", "--now", EVENING)
    before = dump(db)
    assert error("appliance", "set", "ev", "--max-power", "5kW", "--min-power", "2kW") == (
        "error: run #1 of 'ev' counts its progress at 6.9kW: finish or cancel it before changing --max-power "
        "(the minimum and step may change now)\n")
    assert dump(db) == before  # not even the minimum given beside it
    wattplan("cancel", "1", "--now", "2026-12-01T20:05")
    wattplan("tick", "--now", "2026-12-01T20:05")
    assert wattplan("appliance", "set", "ev", "--current", "6-16A", "--phases", "1").stdout == (
        "ev: 1.38kW to 3.68kW in steps of 230W\n")
    (charge,) = json.loads(wattplan("appliance", "show", "ev", "--json").stdout)["programs"]
    assert charge["peak_w"] == 3680.0  # its one program stands for the new maximum
    wattplan("enqueue", "ev", "--energy", "3.68kWh", "--now", "2026-12-01T20:06")
    listed = {r["id"]: r for r in json.loads(wattplan("list", "--json").stdout)}
    assert listed[3]["duration_s"] == 3600  # progress counts at the new maximum


def test_defaults_of_new_requests_pauses_and_relays(db):
    ev_beside_washer(db)
    wattplan("appliance", "add", "heater", "--interruptible", "--min-run", "5m")
    assert wattplan("appliance", "set", "heater", "--min-run", "15m", "--min-pause", "10m").stdout == (
        "heater: minimum run 15m, pause 10m\n")
    assert wattplan("appliance", "set", "washer", "--priority-class", "8", "--max-delay", "6h").stdout == (
        "washer: priority class 8 for new requests; longest wait 6h for new requests\n")
    listed = {r["id"]: r for r in json.loads(wattplan("list", "--json").stdout)}
    assert listed[2]["priority_class"] == 5  # a request keeps the class it was made with
    wattplan("enqueue", "washer", "--now", EVENING)
    listed = {r["id"]: r for r in json.loads(wattplan("list", "--json").stdout)}
    assert listed[3]["priority_class"] == 8
    assert wattplan("appliance", "set", "washer", "--max-delay", "none", "--relay", "tasmota:plug").stdout == (
        "washer: longest wait none for new requests; relay tasmota:plug\n")
    shown = json.loads(wattplan("appliance", "show", "washer", "--json").stdout)
    assert (shown["max_delay_s"], shown["relay"]) == (None, "tasmota:plug")
    listed = wattplan("appliance", "list").stdout
    assert "charge, 1.38kW" in listed and "230W" in listed  # the range beside its program, wrapped


def test_settings_that_cannot_apply_are_one_line_and_change_nothing(db):
    ev_beside_washer(db)
    before = dump(db)
    refused = [
        (["washer", "--max-power", "3kW"], "appliance 'washer' runs programs and cannot become modulating"),
        (["washer", "--min-run", "10m"], "apply only to an interruptible appliance; 'washer' is not"),
        (["ev", "--min-pause", "10m"], "do not apply to a modulating appliance"),
        (["ev", "--min-power", "7kW"], "--min-power 7kW is above --max-power 6.9kW"),
        (["ev", "--step", "9kW"], "--step 9kW is larger than the range"),
        (["ev", "--priority-class", "11"], "priority class 11 is not between 1 and 10"),
        (["oven", "--priority-class", "3"], "unknown appliance 'oven'"),
        (["ev", "--max-power", "lots"], "--max-power"),
    ]
    for args, says in refused:
        assert says in error("appliance", "set", *args), args
    assert "nothing to change" in error("appliance", "set", "ev", code=2)
    assert "not both" in error("appliance", "set", "ev", "--current", "6-16A", "--max-power", "3kW", code=2)
    assert dump(db) == before
