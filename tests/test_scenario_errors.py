"""Scenario files: every mistake is one exact line naming the file and the key (docs/scenario.md)."""

from pathlib import Path

import pytest

from reconcile.errors import ReconcileError
from reconcile.simulation.scenario import builtin_scenario, load_scenario, parse_scenario
from tests.scenario_files import edited, write

MISTAKES = [
    # (test id, [(text in BASE, replacement), ...] where "" appends, message after "scenario s.toml: ")
    ("unknown version",
     [("version = 1", "version = 2")],
     "version: must be 1 (the only scenario version this wattplan reads), got 2"),
    ("version as text",
     [("version = 1", 'version = "1"')],
     "version: must be 1 (the only scenario version this wattplan reads), got '1'"),
    ("missing required key",
     [('name = "t"\n', "")],
     "name: required key is missing"),
    ("unknown top-level key",
     [('name = "t"', 'name = "t"\nnmae = "x"')],
     "unknown key 'nmae'; allowed: version, name, description, start, end, home, appliances, programs, "
     "forecasts, events"),
    ("unknown nested key",
     [('min_run = "5m"', 'min_run = "5m"\npriorty_class = 3')],
     "appliances[0]: unknown key 'priorty_class'; allowed: name, interruptible, min_run, min_pause, "
     "priority_class, max_delay, min_power, max_power, power_step"),
    ("class out of range",
     [('name = "washer"', 'name = "washer"\npriority_class = 12')],
     "appliances[1].priority_class: must be an integer from 1 to 10, got 12"),
    ("not a string",
     [('name = "washer"', "name = 3")],
     "appliances[1].name: must be a string, got 3"),
    ("empty name",
     [('name = "washer"', 'name = " "')],
     "appliances[1].name: must not be empty"),
    ("not a boolean",
     [("interruptible = true", 'interruptible = "yes"')],
     "appliances[0].interruptible: must be true or false, got 'yes'"),
    ("duplicate appliance",
     [('name = "washer"', 'name = "heater"')],
     "appliances[1].name: duplicate appliance name 'heater' (also appliances[0])"),
    ("pause setting on a non-interruptible appliance",
     [('name = "washer"', 'name = "washer"\nmin_pause = "5m"')],
     "appliances[1].min_pause: only for interruptible appliances (interruptible = true)"),
    ("bad duration",
     [('min_run = "5m"', 'min_run = "soon"')],
     "appliances[0].min_run: duration 'soon' is not a duration like 90m, 1h30m or 4h"),
    ("duration of the wrong type",
     [('min_run = "5m"', "min_run = 1.5")],
     "appliances[0].min_run: must be a duration like 90m, 1h30m or 4h, got 1.5"),
    ("bad power",
     [('limit = "3kW"', 'limit = "3kV"')],
     "home.limit: power '3kV' is not a power like 2000, 2000W or 2kW"),
    ("zero limit",
     [('limit = "3kW"', 'limit = "0W"')],
     "home.limit: power '0W' must be a finite power above zero"),
    ("unknown timezone",
     [('"Europe/Berlin"', '"Mars/Base"')],
     "home.timezone: unknown timezone 'Mars/Base': use an IANA name like Europe/Lisbon"),
    ("unknown objective",
     [('timezone = "Europe/Berlin"', 'timezone = "Europe/Berlin"\nobjective = "fast"')],
     "home.objective: must be one of asap, cheapest, solar, got 'fast'"),
    ("horizon not whole slots",
     [('timezone = "Europe/Berlin"', 'timezone = "Europe/Berlin"\nslot = "15m"\nhorizon = "20m"')],
     "home.horizon: must be a whole number of slots of 900s, got 1200s"),
    ("program of an unknown appliance",
     [('appliance = "washer"\nname = "eco"', 'appliance = "dryer"\nname = "eco"')],
     "programs[1].appliance: no appliance named 'dryer'"),
    ("duplicate program",
     [('appliance = "washer"\nname = "eco"', 'appliance = "heater"\nname = "boost"')],
     "programs[1].name: duplicate program 'boost' for appliance 'heater' (also programs[0])"),
    ("negative watts",
     [("watts = [500]", "watts = [-5, 500]")],
     "programs[1].watts[0]: must not be negative, got -5"),
    ("no power at all",
     [("watts = [500]", "watts = [0, 0]")],
     "programs[1].watts: needs at least one value above zero"),
    ("watts not numbers",
     [("watts = [500]", 'watts = ["1kW"]')],
     "programs[1].watts[0]: must be a finite number, got '1kW'"),
    ("watts not finite",
     [("watts = [500]", "watts = [nan]")],
     "programs[1].watts[0]: must be a finite number, got nan"),
    ("empty watts",
     [("watts = [500]", "watts = []")],
     "programs[1].watts: must be a non-empty array of numbers, got an empty array"),
    ("peak list of another length",
     [("peak_watts = [1500, 2000]", "peak_watts = [1500]")],
     "programs[0].peak_watts: must have as many values as watts (2), got 1"),
    ("peak below mean",
     [("peak_watts = [1500, 2000]", "peak_watts = [1500, 1999]")],
     "programs[0].peak_watts[1]: must be at least watts[1] (2000), got 1999"),
    ("negative pv",
     [("values = [0, 100]", "values = [0, -1]")],
     "forecasts[0].values[1]: must not be negative, got -1"),
    ("unknown series kind",
     [('kind = "pv"', 'kind = "wind"')],
     "forecasts[0].kind: must be one of pv, base, price, got 'wind'"),
    ("two series of one kind",
     [("[[events]]", '[[forecasts]]\nkind = "pv"\nstart = "08:00"\nslot = "1h"\nvalues = [1]\n\n[[events]]')],
     "forecasts[1].kind: a 'pv' series is already given by forecasts[0]"),
    ("bad time",
     [('at = "08:15"', 'at = "8h15"')],
     "events[0].at: must be ISO 8601 (2026-06-30T18:00+02:00), HH:MM or +1d HH:MM, got '8h15'"),
    ("clock time out of range",
     [('at = "08:15"', 'at = "25:00"')],
     "events[0].at: '25:00' is not a clock time between 00:00 and 23:59"),
    ("start as a clock time",
     [('start = "2026-06-30T08:00:00+02:00"', 'start = "08:00"')],
     "start: must be an ISO 8601 date and time (2026-06-30T00:00+02:00), got '08:00'"),
    ("end before start",
     [('end = "12:00"', 'end = "07:00"')],
     "end: must be after start (2026-06-30T06:00:00Z), got 2026-06-30T05:00:00Z"),
    ("event outside the scenario",
     [('at = "08:20"', 'at = "13:00"')],
     "events[1].at: must be between start (2026-06-30T06:00:00Z) and end (2026-06-30T10:00:00Z), got "
     "2026-06-30T11:00:00Z"),
    ("unknown event type",
     [('type = "end"', 'type = "stop"')],
     "events[1].type: must be one of request, end, forecast, got 'stop'"),
    ("key of another event type",
     [('kind = "done"', 'kind = "done"\nappliance = "heater"')],
     "events[1]: unknown key 'appliance'; allowed: type, at, label, kind"),
    ("request for an unknown appliance",
     [('appliance = "heater"\nwithin', 'appliance = "oven"\nwithin')],
     "events[0].appliance: no appliance named 'oven'"),
    ("request for an unknown program",
     [('appliance = "heater"\nwithin', 'appliance = "heater"\nprogram = "eco"\nwithin')],
     "events[0].program: appliance 'heater' has no program 'eco'"),
    ("request for an appliance without programs",
     [
         ('[[programs]]\nappliance = "washer"',
          '[[appliances]]\nname = "dryer"\n\n[[programs]]\nappliance = "washer"'),
         ('appliance = "heater"\nwithin', 'appliance = "dryer"\nwithin'),
     ],
     "events[0].appliance: appliance 'dryer' has no program to run"),
    ("duplicate label",
     [("", '\n[[events]]\ntype = "request"\nat = "08:30"\nlabel = "a"\nappliance = "washer"\n')],
     "events[2].label: duplicate label 'a' (also events[0])"),
    ("end of an unknown run",
     [('label = "a"\nkind', 'label = "z"\nkind')],
     "events[1].label: no earlier request labelled 'z'"),
    ("end before its request",
     [('at = "08:20"', 'at = "08:10"')],
     "events[1].label: no earlier request labelled 'a'"),
    ("run ended twice",
     [("", '\n[[events]]\ntype = "end"\nat = "08:30"\nlabel = "a"\nkind = "cancel"\n')],
     "events[2].label: run 'a' was already ended by events[1]"),
    ("unknown end kind",
     [('kind = "done"', 'kind = "stopped"')],
     "events[1].kind: must be one of done, cancel, got 'stopped'"),
    ("within and by together",
     [('within = "1h"', 'within = "1h"\nby = "11:00"')],
     "events[0].by: cannot be combined with within; give one of them"),
    ("by before not_before",
     [('within = "1h"', 'not_before = "10:00"\nby = "09:00"')],
     "events[0].by: must be after not_before (2026-06-30T08:00:00Z), got 2026-06-30T07:00:00Z"),
    ("by before the request",
     [('within = "1h"', 'by = "08:00"')],
     "events[0].by: must be after at (2026-06-30T06:15:00Z), got 2026-06-30T06:00:00Z"),
    ("class of a request out of range",
     [('within = "1h"', "priority_class = 0")],
     "events[0].priority_class: must be an integer from 1 to 10, got 0"),
]


@pytest.mark.parametrize(("changes", "message"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_one_exact_line(tmp_path: Path, changes: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(ReconcileError) as raised:
        load_scenario(write(tmp_path, edited(*changes)))
    assert str(raised.value) == f"scenario s.toml: {message}"


@pytest.mark.parametrize(("name", "content", "message"), [
    ("s.toml", "version = ", "scenario s.toml: not valid TOML: Invalid value (at end of document)"),
    ("s.json", "{", "scenario s.json: not valid JSON: Expecting property name enclosed in double quotes: "
                    "line 1 column 2 (char 1)"),
    ("s.json", "[1]", "scenario s.json: the top level must be a table, got an array"),
    ("s.json", '{"version": 1, "name": "t", "home": 5}', "scenario s.json: home: must be a table, got 5"),
    ("s.json", '{"version": 1, "name": "t"}', "scenario s.json: home: required key is missing"),
])
def test_malformed_files_are_one_exact_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    with pytest.raises(ReconcileError) as raised:
        load_scenario(write(tmp_path, content, name))
    assert str(raised.value) == message


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReconcileError) as raised:
        load_scenario(tmp_path / "nope.toml")
    assert str(raised.value) == "scenario nope.toml: cannot read: No such file or directory"


def test_array_of_tables_must_be_one() -> None:
    with pytest.raises(ReconcileError) as raised:
        parse_scenario({"version": 1, "name": "t", "home": {"limit": "3kW", "timezone": "UTC"},
                        "start": "2026-06-30T00:00Z", "end": "01:00", "appliances": {"name": "x"}},
                       source="s")
    assert str(raised.value) == (
        "scenario s: appliances: must be an array of tables ([[appliances]]), got a table")


def test_unknown_builtin_scenario_is_one_line() -> None:
    with pytest.raises(ReconcileError) as raised:
        builtin_scenario("nope")
    assert str(raised.value) == "no built-in scenario 'nope'; known: sample_day, tiny"
