"""Set up the home: init, and the db, appliance, profile and forecast groups."""

from pathlib import Path
from typing import Annotated

import typer

from reconcile.commands.base import (
    Json,
    Name,
    Panel,
    clock,
    command,
    emit,
    engine,
    option,
    power,
    say,
    seconds,
    session,
)
from reconcile.errors import ExitStatus, ReconcileError
from reconcile.units import format_duration, format_power, parse_zone

PANEL = Panel("Set up the home")
db_app = PANEL.group("db", help="Create the database or migrate it to the newest schema.")
appliance_app = PANEL.group("appliance", help="Add, list, show and remove appliances.")
profile_app = PANEL.group("profile", help="Add and list programs: the power curve of one cycle.")
forecast_app = PANEL.group("forecast", help="Import and show PV, base-load and price forecasts.")


@command(db_app, "upgrade")
def db_upgrade() -> None:
    """Create the database, or migrate it to the newest schema revision (safe to repeat)."""
    from reconcile.shell.db import current_revision
    from reconcile.shell.migrate import upgrade

    target = engine(create=True)
    before = current_revision(target)
    after = upgrade(target)
    say(f"database at revision {after} (head)" + ("" if before == after else f", was {before or 'empty'}"))


@command(db_app, "current")
def db_current() -> None:
    """Show the database's schema revision and whether it is the newest."""
    import migrations
    from reconcile.shell.db import current_revision

    revision = current_revision(engine(write=False, migrated=False))
    if revision == migrations.HEAD:
        return say(f"{revision} (head)")
    say(f"{revision or 'empty'} (the newest is {migrations.HEAD}: run `wattplan db upgrade`)")


@PANEL.command()
def init(
    limit: Annotated[str | None, option("POWER", "Import limit of the grid connection, e.g. 6.9kW.")] = None,
    timezone: Annotated[str | None, option("ZONE", "IANA time zone of the home, e.g. Europe/Lisbon.")] = None,
    slot: Annotated[str | None, option("DURATION", "Planning slot.", "1m")] = None,
    horizon: Annotated[str | None, option("DURATION", "How far ahead to plan.", "24h")] = None,
    reserve: Annotated[str | None, option(
        "POWER", "Unmanaged load assumed where no base-load forecast says otherwise.", "0W")] = None,
    objective: Annotated[str | None, option(
        "NAME", "asap, cheapest (needs a price forecast) or solar (a PV forecast).", "asap")] = None,
    planner: Annotated[str | None, option(
        "NAME", "greedy, or optimal: the exact reference (HiGHS; needs the optimal extra).", "greedy")] = None,
    sample: Annotated[bool, typer.Option("--sample", help=(
        "Load the sample home: 4 appliances, their programs, a summer day's forecasts moved to today."
    ))] = False,
) -> None:
    """Create the database if needed, then create the home or change its settings."""
    from reconcile.shell import catalog

    settings = home_settings(limit, timezone, slot, horizon, reserve, objective, planner)
    if sample:
        from reconcile.simulation.sample import load_into_db
        from reconcile.simulation.scenario import builtin_scenario

        scenario = builtin_scenario("sample_day")
    target = upgraded_engine(new_home=sample or (limit is not None and timezone is not None))
    with session(target=target) as s:
        loaded = load_into_db(s, scenario, clock(), settings=settings) if sample else None
        home, created = catalog.init_home(s, now=clock(), **settings)
    say(f"{'created' if created or (loaded and loaded.created) else 'updated'} the home: limit "
        f"{format_power(home.limit_w)}, reserve {format_power(home.reserve_w)}, {home.timezone}, "
        f"{format_duration(home.slot_s)} slots, {format_duration(home.horizon_s)} horizon, {home.objective}")
    if loaded:
        say(f"sample: added {loaded.appliances} appliances and {loaded.programs} programs, "
            f"{loaded.forecasts} forecast values (moved {loaded.shift_days:+d} days to today)")


def home_settings(limit, timezone, slot, horizon, reserve, objective, planner) -> dict:
    """init's options parsed, None where not given (the home keeps its setting); checks the solver."""
    if timezone is not None:
        parse_zone(timezone)
    no_reserve = reserve is not None and reserve.strip().lower() in ("0", "0w", "0kw")
    settings = {"limit_w": power(limit, "--limit"), "timezone": timezone, "slot_s": seconds(slot, "--slot"),
                "horizon_s": seconds(horizon, "--horizon"), "objective": objective,
                "reserve_w": 0.0 if no_reserve else power(reserve, "--reserve"), "planner": planner}
    if planner == "optimal":
        from reconcile.shell.optimal import require_solver

        require_solver()  # say it now, not in every tick
    return settings


def upgraded_engine(*, new_home: bool):
    """The database, created if needed and migrated to the newest revision if it is empty."""
    from reconcile.shell.db import current_revision, require_head
    from reconcile.shell.migrate import upgrade

    target = engine(create=True)
    if current_revision(target) is None:
        if not new_home:
            raise ReconcileError("a new home needs --limit and --timezone")  # before creating anything
        upgrade(target)
    require_head(target)
    return target


@command(profile_app, "add")
def profile_add(
    appliance: Name,
    program: Annotated[str, typer.Argument(metavar="PROGRAM", help="A name for the program, e.g. eco.")],
    power_: Annotated[str | None, option("POWER", "Constant power, e.g. 2kW (with --duration).", None,
                                         "--power")] = None,
    duration: Annotated[str | None, option("DURATION", "Length of the cycle, e.g. 1h30m (with --power).")
                        ] = None,
    watts: Annotated[str | None, option("W,W,...", "Mean power of each slot, e.g. 2000,2000,500.")] = None,
    csv: Annotated[str | None, typer.Option(metavar="FILE", help=(
        "A measured trace: CSV with a header naming a time and a power column: offset,watts; "
        "timestamp,power; Home Assistant's entity_id,state,last_changed (README, profile add). "
        "- reads standard input."))] = None,
    time_column: Annotated[str | None, option("NAME", "With --csv: the time column.",
                                              "offset, timestamp, time, last_changed or datetime")] = None,
    power_column: Annotated[str | None, option("NAME", "With --csv: the power column.",
                                               "watts, power, state or value")] = None,
    slot: Annotated[str | None, option("DURATION", "The slot of --watts, or what --csv is resampled to.",
                                       "1m")] = None,
) -> None:
    """Add a program, the power of one cycle: --power with --duration, or --watts, or --csv."""
    from reconcile.shell import catalog
    from reconcile.shell.traces import Columns

    slot_s, values, peaks, source = program_power(power_, duration, watts, csv, slot,
                                                  Columns(time_column, power_column))
    with session() as s:
        made = catalog.add_profile(s, now=clock(), appliance=appliance, name=program, slot_s=slot_s,
                                   watts=values, peak_watts=peaks, source=source)
    say(f"added program {program!r} of {appliance!r}: {format_duration(made.duration_s)}, "
        f"{made.energy_wh / 1000:.2f} kWh, peak {format_power(made.peak_w)}")


def program_power(power_, duration, watts, csv, slot, columns):
    """(slot_s, watts, peak watts or None, source or None) from profile add's one way of giving them."""
    from reconcile.shell.traces import parse_watts, read_trace, trace_from_text

    modes = [given for given in (power_ or duration, watts, csv) if given]
    if len(modes) != 1 or (power_ or duration) and (not (power_ and duration) or slot):
        raise ReconcileError("give --power with --duration, or --watts, or --csv "
                             "(--slot only with the last two)", ExitStatus.USAGE)
    if not csv and (columns.time or columns.power):
        raise ReconcileError("--time-column and --power-column go with --csv", ExitStatus.USAGE)
    slot_s = seconds(slot, "--slot") or 60
    if power_:
        return seconds(duration, "--duration"), [power(power_, "--power")], None, None
    if watts is not None:
        return slot_s, parse_watts(watts, what="--watts"), None, None
    if csv == "-":
        trace = trace_from_text(standard_input(), source="standard input", slot_s=slot_s, columns=columns)
        return slot_s, list(trace.watts), list(trace.peaks), "measured trace (standard input)"
    trace = read_trace(Path(csv), slot_s=slot_s, columns=columns)
    return slot_s, list(trace.watts), list(trace.peaks), f"measured trace {Path(csv).name}"


def standard_input() -> str:
    """Standard input's text, at most the largest file accepted."""
    import sys

    from reconcile.shell.textfile import read_stream

    return read_stream(sys.stdin.buffer, failure="cannot read standard input", encoding="utf-8-sig")


@command(profile_app, "list")
def profile_list(appliance: Annotated[str | None, typer.Argument(
        metavar="APPLIANCE", help="Only this appliance's.")] = None, as_json: Json = False) -> None:
    """List programs with their duration, energy and peak power."""
    from reconcile.presentation import render
    from reconcile.shell import views

    with session(write=False) as s:
        rows = views.profiles(s, appliance)
    emit(rows, as_json, render.profiles(rows))


Kind = Annotated[str, typer.Argument(metavar="KIND", help="pv (W), base (W) or price (per kWh).")]


@command(forecast_app, "import")
def forecast_import(kind: Kind, file: Annotated[str, typer.Argument(
        metavar="FILE", help="CSV (timestamp,value) or JSON; - reads standard input. Format: docs/objectives.md.")]
        ) -> None:
    """Replace the stored forecast of KIND over the time FILE covers, resampled to the home's slots."""
    from reconcile.shell.forecasts import import_series
    from reconcile.shell.store import load_home
    from reconcile.shell.textfile import read_text

    text = standard_input() if file == "-" else read_text(Path(file), failure=f"cannot read {file}")
    with session() as s:
        done = import_series(s, home=load_home(s), kind=kind, text=text)
    say(f"imported {done.rows} {done.kind} values as {done.intervals} intervals, "
        f"{done.start:%Y-%m-%d %H:%M} to {done.end:%Y-%m-%d %H:%M} UTC")


@command(forecast_app, "show")
def forecast_show(kind: Annotated[str | None, typer.Argument(
        metavar="[KIND]", help="pv, base or price (default: all).")] = None, as_json: Json = False) -> None:
    """List the stored forecast intervals, in the home's timezone."""
    from reconcile.presentation import render
    from reconcile.shell.forecasts import stored_series
    from reconcile.shell.store import load_home

    with session(write=False) as s:
        rows = stored_series(s, home=load_home(s), kind=kind)
    emit(rows, as_json, render.forecasts(rows))
