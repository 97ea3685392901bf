"""Scenario files: the shipped scenarios load and match their sources; times follow the documented rules.

Every mistake in a scenario file is one exact line: tests/test_scenario_errors.py.
"""

import csv
import importlib.util
import json
import math
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconcile.simulation.scenario import (
    BUILTIN_SCENARIOS,
    EndEarly,
    ForecastUpdate,
    Request,
    builtin_scenario,
    load_scenario,
    parse_scenario,
)
from tests.scenario_files import BASE, edited, write

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


def test_documented_example_is_the_tiny_scenario() -> None:
    doc = (ROOT / "docs" / "scenario.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    assert parse_scenario(tomllib.loads(example), source="doc") == builtin_scenario("tiny")
