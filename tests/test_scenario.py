"""Scenario files: the shipped scenarios load and match their sources; every mistake is one exact line."""

import csv
import importlib.util
import json
import math
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconcile.errors import ReconcileError
from reconcile.simulation.scenario import (
    BUILTIN_SCENARIOS,
    EndEarly,
    ForecastUpdate,
    Request,
    builtin_scenario,
    load_scenario,
    parse_scenario,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "reconcile" / "simulation" / "scenarios"
DATA = ROOT.parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- the shipped scenarios -------------------------------------------------------------------


def test_tiny_loads_with_documented_defaults() -> None:
    tiny = load_scenario(SCENARIOS / "tiny.toml")
    assert (tiny.version, tiny.name) == (1, "tiny")
    assert (tiny.start, tiny.end) == (at("2026-06-30T06:00Z"), at("2026-06-30T10:00Z"))
    assert (tiny.home.limit_w, tiny.home.slot_s, tiny.home.horizon_s) == (3000.0, 60, 86400)
    assert (tiny.home.reserve_w, tiny.home.objective) == (200.0, "asap")
    (heater,) = tiny.appliances
    assert (heater.name, heater.interruptible) == ("heater", True)
    assert (heater.min_run_s, heater.min_pause_s) == (300, 300)
    assert (heater.priority_class, heater.max_delay_s) == (5, 7200)
    (boost,) = tiny.programs
    assert (boost.name, boost.energy_kwh, boost.peak_watts) == ("boost", 2000 * 10 / 60_000, None)
    assert tiny.forecasts == ()
    first, second, end = tiny.events
    assert first == Request(at=at("2026-06-30T06:15Z"), label="first", appliance="heater", program="boost",
                            not_before=None, within_s=3600, by=None, priority_class=None, objective=None)
    assert (second.label, second.by) == ("second", at("2026-06-30T08:00Z"))
    assert end == EndEarly(at=at("2026-06-30T07:05Z"), label="second", kind="done")


def test_sample_home_is_the_documented_one() -> None:
    sample = builtin_scenario("sample_day")
    home = sample.home
    assert (home.limit_w, home.timezone, home.slot_s, home.horizon_s, home.reserve_w) == (
        4600.0, "Europe/Berlin", 60, 86400, 300.0)
    assert (sample.start, sample.end) == (at("2026-06-29T22:00Z"), at("2026-07-01T06:00Z"))
    assert [a.name for a in sample.appliances] == ["washer", "dryer", "dishwasher", "ev"]
    ev = sample.appliances[3]
    assert (ev.interruptible, ev.min_run_s, ev.min_pause_s, ev.priority_class, ev.max_delay_s) == (
        True, 900, 600, 3, 12 * 3600)
    assert all(not a.interruptible for a in sample.appliances[:3])


def test_sample_programs_keep_the_source_energy() -> None:
    programs = {p.appliance: p for p in builtin_scenario("sample_day").programs}
    assert abs(programs["washer"].energy_kwh - 1.8947) < 0.005
    assert abs(programs["dishwasher"].energy_kwh - 1.7758) < 0.005
    assert abs(programs["dryer"].energy_kwh - 1.9988) < 0.005
    assert abs(programs["ev"].energy_kwh - 15.72) < 1e-9
    assert max(programs["ev"].watts) == 3680.0 and programs["ev"].peak_watts is None
    assert len(programs["washer"].watts) == 191 and max(programs["washer"].peak_watts) == 3559.0


def test_sample_series_have_the_source_shape() -> None:
    sample = builtin_scenario("sample_day")
    series = {s.kind: s for s in sample.forecasts}
    pv, base, price = series["pv"], series["base"], series["price"]
    assert (pv.start, pv.slot_s, len(pv.values)) == (at("2026-06-30T00:00Z"), 900, 96)
    assert (base.start, base.slot_s, len(base.values)) == (at("2026-06-29T22:00Z"), 900, 96)  # local 00:00
    assert (price.start, price.slot_s, len(price.values), price.values[0]) == (base.start, 3600, 24, 0.11633)
    update = next(e for e in sample.events if isinstance(e, ForecastUpdate))
    assert update.series.start == base.end and update.series.values == base.values


@needs_data
def test_sample_numbers_are_the_source_numbers() -> None:
    sample = builtin_scenario("sample_day")
    profiles = json.loads((DATA / "profiles" / "appliance_profiles.json").read_text())
    washer = next(p for p in profiles
                  if p["program"] == "WASHINGMACHINE:_B82E27:mode0" and p["slot_minutes"] == 1)
    assert sample.programs[0].watts == tuple(washer["watts"])
    with (DATA / "pv" / "pv_5kwp_15min_w.csv").open() as handle:
        pv = [float(row["dwd2015_summer_clear_0630"]) for row in csv.DictReader(handle)]
    assert sample.forecasts[0].values == tuple(pv)
    with (DATA / "prices" / "pvpc_spain_hourly.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if "2021-06-01" in r["series"]]
    prices = [float(r["eur_per_mwh"]) / 1000 for r in rows]
    assert all(math.isclose(a, b) for a, b in zip(sample.forecasts[2].values, prices, strict=True))


@needs_data
def test_make_sample_reproduces_the_committed_file_byte_for_byte() -> None:
    spec = importlib.util.spec_from_file_location("make_sample", ROOT / "bench" / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == (SCENARIOS / "sample_day.toml").read_text(encoding="utf-8")


def test_sample_overloads_when_every_run_starts_at_its_request() -> None:
    """The sample is worth scheduling: started at once, the runs exceed the limit somewhere."""
    sample = builtin_scenario("sample_day")
    programs = {(p.appliance, p.name): p for p in sample.programs}
    ends = {e.label: e.at for e in sample.events if isinstance(e, EndEarly)}
    runs = [(r.at, programs[(r.appliance, r.program)], ends.get(r.label, sample.end))
            for r in sample.events if isinstance(r, Request)]
    series = list(sample.forecasts) + [e.series for e in sample.events if isinstance(e, ForecastUpdate)]

    def value(kind: str, moment: datetime, default: float) -> float:
        for s in series:
            if s.kind == kind and s.start <= moment < s.end:
                return s.values[int((moment - s.start).total_seconds()) // s.slot_s]
        return default

    peak, moment = 0.0, sample.start
    while moment < sample.end:
        load = value("base", moment, sample.home.reserve_w) - value("pv", moment, 0.0)
        for start, program, stop in runs:
            minute = int((moment - start).total_seconds()) // 60
            if 0 <= minute < len(program.watts) and moment < stop:
                load += (program.peak_watts or program.watts)[minute]
        peak = max(peak, load)
        moment += timedelta(minutes=1)
    assert round(peak) == 6176 > sample.home.limit_w


def test_loading_twice_gives_equal_values() -> None:
    for name in BUILTIN_SCENARIOS:
        assert builtin_scenario(name) == builtin_scenario(name) == load_scenario(SCENARIOS / f"{name}.toml")


def test_json_file_reads_like_the_toml_file(tmp_path: Path) -> None:
    data = tomllib.loads((SCENARIOS / "tiny.toml").read_text())
    data["start"] = data["start"].isoformat()
    (tmp_path / "tiny.json").write_text(json.dumps(data))
    assert load_scenario(tmp_path / "tiny.json") == load_scenario(SCENARIOS / "tiny.toml")


# --- time rules and ordering -----------------------------------------------------------------

BASE = """\
version = 1
name = "t"
start = "2026-06-30T08:00:00+02:00"
end = "12:00"

[home]
limit = "3kW"
timezone = "Europe/Berlin"

[[appliances]]
name = "heater"
interruptible = true
min_run = "5m"

[[appliances]]
name = "washer"

[[programs]]
appliance = "heater"
name = "boost"
watts = [1000, 2000]
peak_watts = [1500, 2000]

[[programs]]
appliance = "washer"
name = "eco"
watts = [500]

[[forecasts]]
kind = "pv"
start = "08:00"
slot = "15m"
values = [0, 100]

[[events]]
type = "request"
at = "08:15"
label = "a"
appliance = "heater"
within = "1h"

[[events]]
type = "end"
at = "08:20"
label = "a"
kind = "done"
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(*changes: tuple[str, str]) -> str:
    """BASE with each (old, new) applied once; old == "" appends new."""
    text = BASE
    for old, new in changes:
        assert old in text, old
        text = text + new if old == "" else text.replace(old, new, 1)
    return text


def test_base_fixture_is_valid(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE))
    assert scenario.appliances[1].min_run_s == 0 and scenario.appliances[1].priority_class == 5
    assert scenario.programs[1].slot_s == 60  # the home's slot by default
    assert scenario.home.reserve_w == 500.0


@pytest.mark.parametrize(("written", "expected"), [
    ('"2026-06-30T09:30:00+02:00"', "2026-06-30T07:30Z"),  # ISO with offset
    ('"2026-06-30T09:30:00Z"', "2026-06-30T09:30Z"),
    ('"2026-06-30T09:30"', "2026-06-30T07:30Z"),  # naive ISO: the home's timezone
    ("2026-06-30T09:30:00", "2026-06-30T07:30Z"),  # TOML local date-time
    ("09:30:00", "2026-06-30T07:30Z"),  # TOML local time: on the start day
    ('"09:30"', "2026-06-30T07:30Z"),  # HH:MM: on the start day, local
    ('"+1d 00:30"', "2026-06-30T22:30Z"),  # the next local day
])
def test_times_follow_the_documented_rules(tmp_path: Path, written: str, expected: str) -> None:
    text = edited(('end = "12:00"', 'end = "+2d 00:00"'), ('at = "08:20"', f"at = {written}"))
    end = load_scenario(write(tmp_path, text)).events[-1]
    assert end.at == at(expected)


def test_events_are_sorted_by_time_keeping_file_order_for_ties(tmp_path: Path) -> None:
    text = BASE + """
[[events]]
type = "request"
at = "08:10"
label = "b"
appliance = "washer"

[[events]]
type = "request"
at = "08:10"
label = "c"
appliance = "washer"
not_before = "09:00"
by = "10:00"
"""
    events = load_scenario(write(tmp_path, text)).events
    assert [e.label for e in events] == ["b", "c", "a", "a"]
    assert events[0].program == "eco"  # omitted: the appliance's first program


def test_negative_prices_are_allowed(tmp_path: Path) -> None:
    text = edited(('kind = "pv"', 'kind = "price"'), ("values = [0, 100]", "values = [-0.02, 0.1]"))
    assert load_scenario(write(tmp_path, text)).forecasts[0].values == (-0.02, 0.1)


def test_zero_reserve_is_allowed(tmp_path: Path) -> None:
    text = edited(('timezone = "Europe/Berlin"', 'timezone = "Europe/Berlin"\nreserve = "0W"'))
    assert load_scenario(write(tmp_path, text)).home.reserve_w == 0.0


# --- one exact line per mistake --------------------------------------------------------------


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
     "priority_class, max_delay"),
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


def test_documented_example_is_the_tiny_scenario() -> None:
    doc = (ROOT / "docs" / "scenario.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    assert parse_scenario(tomllib.loads(example), source="doc") == builtin_scenario("tiny")
