"""Scenario files (docs/scenario.md): TOML or JSON in, validated frozen values out, times in UTC.

Pure except `load_scenario`, which reads one file. Every mistake raises `ReconcileError` with one
line `scenario NAME: PATH: PROBLEM`, PATH naming the field (`appliances[2].priority_class`), so a
user can fix the file without reading code.
"""

import json
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from reconcile.errors import ReconcileError
from reconcile.shell.catalog import CHARGE
from reconcile.shell.textfile import read_text
from reconcile.simulation.scenario_fields import (
    Clock,
    Table,
    boolean,
    duration,
    instant,
    integer,
    iso,
    numbers,
    power,
    show,
    tables,
    text,
)
from reconcile.simulation.scenario_types import (
    END_KINDS,
    OBJECTIVES,
    SERIES_KINDS,
    EndEarly,
    Event,
    ForecastUpdate,
    Request,
    Scenario,
    ScenarioAppliance,
    ScenarioHome,
    ScenarioProgram,
    Series,
)
from reconcile.units import parse_energy, parse_zone

__all__ = [
    "BUILTIN_SCENARIOS", "EndEarly", "Event", "ForecastUpdate", "Request", "Scenario", "ScenarioAppliance",
    "ScenarioHome", "ScenarioProgram", "Series", "builtin_scenario", "load_scenario", "parse_scenario",
]

VERSION = 1
BUILTIN_SCENARIOS = ("sample_day", "tiny")

_TOP_KEYS = ("version", "name", "description", "start", "end", "home", "appliances", "programs",
             "forecasts", "events")
_HOME_KEYS = ("limit", "timezone", "slot", "horizon", "reserve", "objective")
_APPLIANCE_KEYS = ("name", "interruptible", "min_run", "min_pause", "priority_class", "max_delay", "min_power",
                   "max_power", "power_step")
_PROGRAM_KEYS = ("appliance", "name", "slot", "watts", "peak_watts", "source")
_SERIES_KEYS = ("kind", "start", "slot", "values")
_EVENT_KEYS = {
    "request": ("type", "at", "label", "appliance", "program", "not_before", "within", "by",
                "priority_class", "objective", "energy"),
    "end": ("type", "at", "label", "kind"),
    "forecast": ("type", "at", "series"),
}


def load_scenario(path: Path) -> Scenario:
    """The scenario in `path`: JSON when it ends in `.json`, TOML otherwise."""
    source = path.name
    content = read_text(path, failure=f"scenario {source}: cannot read")
    return parse_scenario(_decode(content, as_json=path.suffix.lower() == ".json", source=source),
                          source=source)


def builtin_scenario(name: str) -> Scenario:
    """A scenario shipped as package data in `reconcile/simulation/scenarios/` (see BUILTIN_SCENARIOS)."""
    if name not in BUILTIN_SCENARIOS:
        raise ReconcileError(f"no built-in scenario {name!r}; known: {', '.join(BUILTIN_SCENARIOS)}")
    source = f"{name}.toml"
    content = (resources.files("reconcile.simulation.scenarios") / source).read_text(encoding="utf-8")
    return parse_scenario(_decode(content, as_json=False, source=source), source=source)


def _decode(content: str, *, as_json: bool, source: str) -> Any:
    try:
        return json.loads(content) if as_json else tomllib.loads(content)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        language = "JSON" if as_json else "TOML"
        raise ReconcileError(f"scenario {source}: not valid {language}: {error}") from None


def parse_scenario(data: dict[str, Any], *, source: str) -> Scenario:
    """Validate decoded TOML/JSON `data`; `source` names the file in error messages."""
    top = Table.top(data, source)
    _check_version(top)
    top.allow(_TOP_KEYS)
    home = _home(top.table("home"))
    zone = parse_zone(home.timezone)
    start = instant(top, "start", Clock(zone, None))
    clock = Clock(zone, start.astimezone(zone).date())
    end = instant(top, "end", clock)
    if end <= start:
        top.fail("end", f"must be after start ({iso(start)}), got {iso(end)}")
    appliances = _appliances(top)
    programs = _programs(top, home, appliances)
    return Scenario(
        version=VERSION, name=text(top, "name"), start=start, end=end, home=home,
        appliances=appliances, programs=programs, forecasts=_forecasts(top, clock),
        events=_events(top, clock, (start, end), appliances, programs),
        description=text(top, "description", "", allow_empty=True),
    )


def _check_version(top: Table) -> None:
    # Checked before unknown keys: a newer file's new keys must not hide the real problem.
    version = top.get("version")
    if type(version) is not int or version != VERSION:
        top.fail("version",
                 f"must be {VERSION} (the only scenario version this wattplan reads), got {show(version)}")


def _home(t: Table) -> ScenarioHome:
    t.allow(_HOME_KEYS)
    slot_s = duration(t, "slot", 60)
    horizon_s = duration(t, "horizon", 24 * 3600)
    if horizon_s % slot_s:
        t.fail("horizon", f"must be a whole number of slots of {slot_s}s, got {horizon_s}s")
    return ScenarioHome(
        limit_w=power(t, "limit"), timezone=_timezone(t), slot_s=slot_s, horizon_s=horizon_s,
        reserve_w=power(t, "reserve", 500.0, allow_zero=True),
        objective=text(t, "objective", "asap", choices=OBJECTIVES),
    )


def _timezone(t: Table) -> str:
    name = text(t, "timezone")
    t.attempt("timezone", lambda: parse_zone(name))
    return name


def _appliances(top: Table) -> tuple[ScenarioAppliance, ...]:
    seen: dict[str, int] = {}
    result = []
    for index, t in enumerate(tables(top, "appliances")):
        appliance = _appliance(t)
        if appliance.name in seen:
            t.fail("name", f"duplicate appliance name {appliance.name!r}"
                           f" (also appliances[{seen[appliance.name]}])")
        seen[appliance.name] = index
        result.append(appliance)
    return tuple(result)


def _appliance(t: Table) -> ScenarioAppliance:
    t.allow(_APPLIANCE_KEYS)
    interruptible = boolean(t, "interruptible", False)
    for key in ("min_run", "min_pause"):
        if key in t.data and not interruptible:
            t.fail(key, "only for interruptible appliances (interruptible = true)")
    return ScenarioAppliance(
        name=text(t, "name"), interruptible=interruptible,
        min_run_s=duration(t, "min_run", 0), min_pause_s=duration(t, "min_pause", 0),
        priority_class=integer(t, "priority_class", 1, 10, 5), max_delay_s=duration(t, "max_delay", None),
        power_range=_power_range(t),
    )


def _power_range(t: Table) -> tuple[float, float, float | None] | None:
    """A modulating appliance's (min W, max W, step W or None): max_power with min_power."""
    if "max_power" not in t.data:
        for key in ("min_power", "power_step"):
            if key in t.data:
                t.fail(key, "only for a modulating appliance (give max_power too)")
        return None
    low, high = power(t, "min_power"), power(t, "max_power")
    if low > high:
        t.fail("min_power", f"must be at most max_power ({high:g} W), got {low:g} W")
    return low, high, power(t, "power_step", None)


def _programs(top: Table, home: ScenarioHome, appliances: tuple[ScenarioAppliance, ...]
              ) -> tuple[ScenarioProgram, ...]:
    names = {a.name for a in appliances}
    seen: dict[tuple[str, str], int] = {}
    result = []
    for index, t in enumerate(tables(top, "programs")):
        program = _program(t, home.slot_s)
        if program.appliance not in names:
            t.fail("appliance", f"no appliance named {program.appliance!r}")
        key = (program.appliance, program.name)
        if key in seen:
            t.fail("name", f"duplicate program {program.name!r} for appliance {program.appliance!r}"
                           f" (also programs[{seen[key]}])")
        seen[key] = index
        result.append(program)
    return tuple(result)


def _program(t: Table, default_slot_s: int) -> ScenarioProgram:
    t.allow(_PROGRAM_KEYS)
    watts = numbers(t, "watts", nonnegative=True)
    if not any(w > 0 for w in watts):
        t.fail("watts", "needs at least one value above zero")
    peaks = numbers(t, "peak_watts", nonnegative=True, default=None)
    if peaks is not None:
        if len(peaks) != len(watts):
            t.fail("peak_watts", f"must have as many values as watts ({len(watts)}), got {len(peaks)}")
        for i, (peak, mean) in enumerate(zip(peaks, watts, strict=True)):
            if peak < mean:
                t.fail(f"peak_watts[{i}]", f"must be at least watts[{i}] ({mean:g}), got {peak:g}")
    return ScenarioProgram(
        appliance=text(t, "appliance"), name=text(t, "name"), slot_s=duration(t, "slot", default_slot_s),
        watts=watts, peak_watts=peaks, source=text(t, "source", "", allow_empty=True),
    )


def _forecasts(top: Table, clock: Clock) -> tuple[Series, ...]:
    seen: dict[str, int] = {}
    result = []
    for index, t in enumerate(tables(top, "forecasts")):
        series = _series(t, clock)
        if series.kind in seen:
            t.fail("kind", f"a {series.kind!r} series is already given by forecasts[{seen[series.kind]}]")
        seen[series.kind] = index
        result.append(series)
    return tuple(result)


def _series(t: Table, clock: Clock) -> Series:
    t.allow(_SERIES_KEYS)
    kind = text(t, "kind", choices=SERIES_KINDS)
    # Prices may be negative (export surplus); power series may not.
    return Series(kind=kind, start=instant(t, "start", clock), slot_s=duration(t, "slot"),
                  values=numbers(t, "values", nonnegative=kind != "price"))


def _events(top: Table, clock: Clock, window: tuple[datetime, datetime],
            appliances: tuple[ScenarioAppliance, ...], programs: tuple[ScenarioProgram, ...]
            ) -> tuple[Event, ...]:
    read = [(t, _event(t, clock, window, appliances, programs)) for t in tables(top, "events")]
    # A stable sort: events at the same instant keep their file order.
    read.sort(key=lambda pair: pair[1].at)
    _check_labels(read)
    return tuple(event for _, event in read)


def _event(t: Table, clock: Clock, window: tuple[datetime, datetime],
           appliances: tuple[ScenarioAppliance, ...], programs: tuple[ScenarioProgram, ...]) -> Event:
    kind = text(t, "type", choices=tuple(_EVENT_KEYS))
    t.allow(_EVENT_KEYS[kind])
    at = instant(t, "at", clock)
    start, end = window
    if not start <= at <= end:
        t.fail("at", f"must be between start ({iso(start)}) and end ({iso(end)}), got {iso(at)}")
    if kind == "end":
        return EndEarly(at=at, label=text(t, "label"), kind=text(t, "kind", choices=END_KINDS))
    if kind == "forecast":
        return ForecastUpdate(at=at, series=_series(t.table("series"), clock))
    return _request(t, at, clock, appliances, programs)


def _request(t: Table, at: datetime, clock: Clock, appliances: tuple[ScenarioAppliance, ...],
             programs: tuple[ScenarioProgram, ...]) -> Request:
    appliance = text(t, "appliance")
    if appliance not in {a.name for a in appliances}:
        t.fail("appliance", f"no appliance named {appliance!r}")
    not_before = instant(t, "not_before", clock, None)
    within_s = duration(t, "within", None)
    by = instant(t, "by", clock, None)
    if by is not None:
        if within_s is not None:
            t.fail("by", "cannot be combined with within; give one of them")
        after, what = (not_before, "not_before") if not_before is not None else (at, "at")
        if by <= after:
            t.fail("by", f"must be after {what} ({iso(after)}), got {iso(by)}")
    charger = next(a for a in appliances if a.name == appliance).power_range is not None
    if charger and "energy" not in t.data:
        t.fail("energy", f"appliance {appliance!r} modulates: a request asks for an energy like \"20kWh\"")
    if not charger and "energy" in t.data:
        t.fail("energy", f"only for a modulating appliance; {appliance!r} runs a program")
    return Request(
        at=at, label=text(t, "label"), appliance=appliance,
        program=CHARGE if charger else _program_name(t, appliance, programs),
        not_before=not_before, within_s=within_s, by=by,
        priority_class=integer(t, "priority_class", 1, 10, None),
        objective=text(t, "objective", None, choices=OBJECTIVES),
        energy_wh=t.attempt("energy", lambda: parse_energy(str(t.data["energy"]))) if charger else None,
    )


def _program_name(t: Table, appliance: str, programs: tuple[ScenarioProgram, ...]) -> str:
    """The requested program, or the appliance's first program in file order when none is named."""
    own = [p.name for p in programs if p.appliance == appliance]
    name = text(t, "program", None)
    if name is None:
        if not own:
            t.fail("appliance", f"appliance {appliance!r} has no program to run")
        return own[0]
    if name not in own:
        t.fail("program", f"appliance {appliance!r} has no program {name!r}")
    return name


def _check_labels(read: list[tuple[Table, Event]]) -> None:
    """Request labels are unique; an end names a request that comes before it and is ended once."""
    requested: dict[str, Table] = {}
    ended: dict[str, Table] = {}
    for t, event in read:
        if isinstance(event, Request):
            if event.label in requested:
                t.fail("label", f"duplicate label {event.label!r} (also {requested[event.label].path})")
            requested[event.label] = t
        elif isinstance(event, EndEarly):
            if event.label not in requested:
                t.fail("label", f"no earlier request labelled {event.label!r}")
            if event.label in ended:
                t.fail("label", f"run {event.label!r} was already ended by {ended[event.label].path}")
            ended[event.label] = t
