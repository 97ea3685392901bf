"""wattplan's command line: each command parses, finds the database, calls reconcile, renders.

Only this module reads the environment and the clock. Every error is one line on stderr with an
exit code of `reconcile.errors.ExitStatus`. The database layer, alembic and the scenario loader
are imported inside the commands that need them, so `--help` and `tick` start fast.
"""

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from reconcile.errors import ExitStatus, NotMigratedError, ReconcileError
from reconcile.shell.config import resolve_db_url, sqlite_path
from reconcile.units import format_duration, format_power, parse_duration, parse_power, parse_time, parse_zone

app = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True, add_completion=False)
db_app = typer.Typer(no_args_is_help=True, help="Create the database or migrate it to the newest schema.")
appliance_app = typer.Typer(no_args_is_help=True, help="Add, list, show and remove appliances.")
profile_app = typer.Typer(no_args_is_help=True, help="Add and list programs: the power curve of one cycle.")
forecast_app = typer.Typer(no_args_is_help=True, help="Import and show PV, base-load and price forecasts.")
SETUP, RUNS, WATCH, TRY = "Set up the home", "Ask for runs", "Reconcile and watch", "Try it out"
app.add_typer(db_app, name="db", rich_help_panel=SETUP)
app.add_typer(appliance_app, name="appliance", rich_help_panel=SETUP)
app.add_typer(profile_app, name="profile", rich_help_panel=SETUP)
app.add_typer(forecast_app, name="forecast", rich_help_panel=SETUP)

out = Console()
err = Console(stderr=True)
_options: dict[str, str | None] = {"db": None}


def option(metavar: str, help: str, shown: str | None = None, *names: str):
    """An option whose text wattplan parses itself (one-line errors): a POWER, DURATION, TIME …"""
    return typer.Option(*names, metavar=metavar, help=help, show_default=shown or False)


Json = Annotated[bool, typer.Option("--json", help="Print JSON instead (keys: README, Command reference).")]
Now = Annotated[str | None, option("TIME", "Act as if it were TIME (for tests and replays).", "the clock")]
Id = Annotated[int, typer.Argument(metavar="ID", help="The execution's id (`wattplan list` shows it).")]
Name = Annotated[str, typer.Argument(metavar="APPLIANCE", help="The appliance's name.")]


def main() -> None:
    app()


HELP = "\n\n".join((  # one line per paragraph: typer keeps line breaks inside later paragraphs
    "Keep a household under its power limit by scheduling appliance runs.",
    "Describe the home (init), its appliances and their programs, ask for runs (enqueue), and let a timer "
    "run `wattplan tick` every minute: it decides what starts, pauses, resumes and stops.",
    "POWER: 2000, 2000W, 2kW. DURATION: 90m, 1h30m, 4h. TIME: ISO 8601 (2026-06-30T18:00) or HH:MM "
    "(the next one), in the home's timezone."))


@app.callback(help=HELP)
def options(db: Annotated[str | None, option("PATH_OR_URL", "Database file or SQLAlchemy URL.", (
        "$WATTPLAN_DB, else $STATE_DIRECTORY/wattplan.db, else wattplan.db in the user's app directory"))
        ] = None) -> None:
    _options["db"] = db


def command(group: typer.Typer, name: str | None = None, panel: str | None = None):
    """Register a command whose `ReconcileError`s and database or file failures become one line."""

    def register(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except ReconcileError as error:
                fail(error)
            except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as error:
                fail(ReconcileError(f"{error.strerror}: {error.filename}"))
            except Exception as error:
                from sqlalchemy.exc import DBAPIError

                from reconcile.shell.db import database_error

                if isinstance(error, DBAPIError):
                    fail(database_error(error))
                raise

        return group.command(name, rich_help_panel=panel)(wrapper)

    return register


def fail(error: ReconcileError) -> None:
    say(f"error: {error}", console=err)
    raise typer.Exit(int(error.status))


def say(text: str, *, console: Console = out) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def clock() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def engine(*, write: bool = True, migrated: bool = True, create: bool = False):
    """The database's engine. Unless `create`, the database must exist and (`migrated`) be at the
    newest revision. A SQLite file it creates is 0660: the group may write, others get nothing."""
    from reconcile.shell.db import make_engine, require_head

    user_dir = Path(typer.get_app_dir("wattplan"))
    url = resolve_db_url(_options["db"], os.environ, user_dir)
    path = sqlite_path(url)
    if create and path == (user_dir / "wattplan.db").resolve():
        user_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path is not None and not create and not path.exists():
        raise NotMigratedError(f"no database at {path}: create it with `wattplan init` or "
                               "`wattplan db upgrade`")
    result = make_engine(url, write=write)
    if path is not None and create and not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o660))
            os.chmod(path, 0o660)  # os.open's mode is cut by the umask; SQLite gives -wal/-shm this mode
        except FileExistsError:
            pass
        except OSError as error:
            raise ReconcileError(f"cannot create the database {path}: {error.strerror}") from None
    if migrated and not create:
        require_head(result)
    return result


@contextmanager
def session(*, write: bool = True) -> Iterator:
    """One transaction on the existing, migrated database, committed when the block succeeds."""
    from reconcile.shell.db import transaction

    with transaction(engine(write=write)) as s:
        yield s


def power(text: str | None, what: str) -> float | None:
    return None if text is None else parse_power(text, what=what)


def seconds(text: str | None, what: str) -> int | None:
    return None if text is None else parse_duration(text, what=what)


def moments(s, now: str | None, **texts: str | None):
    """(zone, now, {name: instant}): times read in the home's timezone, HH:MM as the next one."""
    from zoneinfo import ZoneInfo

    from reconcile.shell.store import load_home

    zone, wall = ZoneInfo(load_home(s).timezone), clock()
    at = parse_time(now, now=wall, zone=zone, what="--now") if now else wall
    parsed, after = {}, at
    for name, text in texts.items():  # a later option's HH:MM is the next one after the earlier's
        what = "--" + name.replace("_", "-")
        parsed[name] = parse_time(text, now=after, zone=zone, what=what) if text else None
        after = max(after, parsed[name] or after)
    return zone, at, parsed


def emit(data, as_json: bool, renderable=None) -> None:
    """`data` as JSON with --json, else the rich `renderable`."""
    from reconcile.presentation.render import to_json

    if as_json:
        say(to_json(data))
    elif renderable is not None:
        out.print(renderable)


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


@command(app, panel=SETUP)
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
    from reconcile.shell.db import current_revision, require_head, transaction
    from reconcile.shell.migrate import upgrade

    if timezone is not None:
        parse_zone(timezone)
    no_reserve = reserve is not None and reserve.strip().lower() in ("0", "0w", "0kw")
    settings = {"limit_w": power(limit, "--limit"), "timezone": timezone, "slot_s": seconds(slot, "--slot"),
                "horizon_s": seconds(horizon, "--horizon"), "objective": objective,
                "reserve_w": 0.0 if no_reserve else power(reserve, "--reserve"), "planner": planner}
    if planner == "optimal":
        from reconcile.shell.optimal import require_solver

        require_solver()  # say it now, not in every tick
    if sample:
        from reconcile.simulation.sample import load_into_db
        from reconcile.simulation.scenario import builtin_scenario

        scenario = builtin_scenario("sample_day")
    target = engine(create=True)
    if current_revision(target) is None:
        if not sample and (limit is None or timezone is None):
            raise ReconcileError("a new home needs --limit and --timezone")  # before creating anything
        upgrade(target)
    require_head(target)
    with transaction(target) as s:
        loaded = load_into_db(s, scenario, clock(), settings=settings) if sample else None
        home, created = catalog.init_home(s, now=clock(), **settings)
    say(f"{'created' if created or (loaded and loaded.created) else 'updated'} the home: limit "
        f"{format_power(home.limit_w)}, reserve {format_power(home.reserve_w)}, {home.timezone}, "
        f"{format_duration(home.slot_s)} slots, {format_duration(home.horizon_s)} horizon, {home.objective}")
    if loaded:
        say(f"sample: added {loaded.appliances} appliances and {loaded.programs} programs, "
            f"{loaded.forecasts} forecast values (moved {loaded.shift_days:+d} days to today)")


@command(appliance_app, "add")
def appliance_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A name for the appliance, e.g. washer.")],
    interruptible: Annotated[bool, typer.Option("--interruptible", help=(
        "Its runs may be paused and resumed (a water heater, an EV charger)."))] = False,
    min_run: Annotated[str | None, option("DURATION", "If interruptible: shortest run between pauses.", "0")
                       ] = None,
    min_pause: Annotated[str | None, option("DURATION", "If interruptible: shortest pause.", "0")] = None,
    priority_class: Annotated[int, typer.Option(
        metavar="N", help="Default priority class, 1 (low) to 10 (urgent).")] = 5,
    max_delay: Annotated[str | None, option(
        "DURATION", "Default longest wait before a run starts, e.g. 6h: its priority rises to 10 by then.",
        "none: the priority stays at its class")] = None,
) -> None:
    """Add an appliance for wattplan to schedule."""
    from reconcile.shell import catalog

    runs = {"min_run_s": seconds(min_run, "--min-run"), "min_pause_s": seconds(min_pause, "--min-pause")}
    runs = {key: value or 0 for key, value in runs.items()}
    max_delay_s = seconds(max_delay, "--max-delay")
    with session() as s:
        catalog.add_appliance(s, now=clock(), name=name, interruptible=interruptible,
                              priority_class=priority_class, max_delay_s=max_delay_s, **runs)
    say(f"added appliance {name!r}")


@command(appliance_app, "list")
def appliance_list(as_json: Json = False) -> None:
    """List the appliances with their settings and programs."""
    from reconcile.presentation import render
    from reconcile.shell import views

    with session(write=False) as s:
        rows = views.appliances(s)
    emit(rows, as_json, render.appliances(rows))


@command(appliance_app, "show")
def appliance_show(name: Name, as_json: Json = False) -> None:
    """Show one appliance and its programs."""
    from reconcile.presentation import render
    from reconcile.shell import views

    with session(write=False) as s:
        (row,) = views.appliances(s, name)
    emit(row, as_json, render.appliance(row))


@command(appliance_app, "remove")
def appliance_remove(name: Name) -> None:
    """Remove an appliance and its programs (refused once it has runs in its history)."""
    from reconcile.shell import catalog

    with session() as s:
        catalog.remove_appliance(s, name=name)
    say(f"removed appliance {name!r}")


@command(profile_app, "add")
def profile_add(
    appliance: Name,
    program: Annotated[str, typer.Argument(metavar="PROGRAM", help="A name for the program, e.g. eco.")],
    power_: Annotated[str | None, option("POWER", "Constant power, e.g. 2kW (with --duration).", None,
                                         "--power")] = None,
    duration: Annotated[str | None, option("DURATION", "Length of the cycle, e.g. 1h30m (with --power).")
                        ] = None,
    watts: Annotated[str | None, option("W,W,...", "Mean power of each slot, e.g. 2000,2000,500.")] = None,
    csv: Annotated[Path | None, typer.Option(metavar="FILE", help=(
        "A measured trace: CSV with a header and the columns offset and watts (README, profile add)."
    ))] = None,
    slot: Annotated[str | None, option("DURATION", "The slot of --watts, or what --csv is resampled to.",
                                       "1m")] = None,
) -> None:
    """Add a program, the power of one cycle: --power with --duration, or --watts, or --csv."""
    from reconcile.shell import catalog
    from reconcile.shell.traces import parse_watts, read_trace

    modes = [given for given in (power_ or duration, watts, csv) if given]
    if len(modes) != 1 or (power_ or duration) and (not (power_ and duration) or slot):
        raise ReconcileError("give --power with --duration, or --watts, or --csv "
                             "(--slot only with the last two)", ExitStatus.USAGE)
    slot_s, peaks, source = seconds(slot, "--slot") or 60, None, None
    if power_:
        slot_s, values = seconds(duration, "--duration"), [power(power_, "--power")]
    elif watts is not None:
        values = parse_watts(watts, what="--watts")
    else:
        trace = read_trace(csv, slot_s=slot_s)
        values, peaks, source = list(trace.watts), list(trace.peaks), f"measured trace {csv.name}"
    with session() as s:
        made = catalog.add_profile(s, now=clock(), appliance=appliance, name=program, slot_s=slot_s,
                                   watts=values, peak_watts=peaks, source=source)
    say(f"added program {program!r} of {appliance!r}: {format_duration(made.duration_s)}, "
        f"{made.energy_wh / 1000:.2f} kWh, peak {format_power(made.peak_w)}")


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
    import sys

    from reconcile.shell.forecasts import import_series
    from reconcile.shell.store import load_home
    from reconcile.shell.textfile import read_text

    text = sys.stdin.read() if file == "-" else read_text(Path(file), failure=f"cannot read {file}")
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


@command(app, panel=RUNS)
def enqueue(
    appliance: Annotated[str, typer.Argument(metavar="APPLIANCE", help="The appliance to run.")],
    program: Annotated[str | None, typer.Argument(
        metavar="PROGRAM", help="Its program; may be left out when it has only one.")] = None,
    not_before: Annotated[str | None, option("TIME", "Do not start before TIME.", "now")] = None,
    within: Annotated[str | None, option("DURATION", "Be done within this long, e.g. 4h.")] = None,
    by: Annotated[str | None, option("TIME", "Be done by TIME, e.g. 18:00.", "the appliance's --max-delay")
                  ] = None,
    priority_class: Annotated[int | None, typer.Option(
        metavar="N", help="1 (low) to 10 (urgent).", show_default="the appliance's")] = None,
    objective: Annotated[str | None, option("NAME", "asap, cheapest or solar.", "the home's")] = None,
    now: Now = None,
) -> None:
    """Ask for a run; prints its execution id.

    TIME is ISO 8601 (2026-06-30T18:00) or HH:MM (the next one), in the home's timezone.
    """
    from reconcile.shell.requests import Request
    from reconcile.shell.requests import enqueue as enqueue_run

    within_s = seconds(within, "--within")
    with session() as s:
        _zone, at, times = moments(s, now, not_before=not_before, by=by)
        execution = enqueue_run(s, now=at, request=Request(
            appliance, program, times["not_before"], within_s, times["by"], priority_class, objective))
    say(str(execution.id))


def _end(execution_id: int, now: str | None, reason: str) -> None:
    from reconcile.shell.requests import end, get_execution

    with session() as s:
        _zone, at, _ = moments(s, now)
        running = get_execution(s, execution_id).state == "running"
        end(s, now=at, execution_id=execution_id, reason=reason)
    verb = "cancelled" if reason == "cancelled" else "marked done"
    say(f"{verb} execution #{execution_id}" + ("; the next tick tells its appliance to stop" * running))


@command(app, panel=RUNS)
def cancel(execution_id: Id, now: Now = None) -> None:
    """Cancel a run; a running appliance is told to stop at the next tick."""
    _end(execution_id, now, "cancelled")


@command(app, panel=RUNS)
def done(execution_id: Id, now: Now = None) -> None:
    """Report that a run finished early (the appliance said so); its power is freed at the next tick."""
    _end(execution_id, now, "done")


@command(app, "list", panel=RUNS)
def list_(all_: Annotated[bool, typer.Option("--all", help="Include finished and cancelled runs.")] = False,
          as_json: Json = False) -> None:
    """List the open runs (every run with --all)."""
    from zoneinfo import ZoneInfo

    from reconcile.presentation import render
    from reconcile.shell import views

    with session(write=False) as s:
        zone, rows = ZoneInfo(views.home(s).timezone), views.executions(s, include_closed=all_)
    emit(rows, as_json, render.executions(rows, zone, clock(), closed=all_))


@command(app, panel=WATCH)
def tick(now: Now = None, as_json: Json = False) -> None:
    """Reconcile once: finish, prioritise, plan and decide. The timer runs this every minute."""
    from reconcile.shell.tick import run_tick

    at = clock()
    if now is not None:
        with session(write=False) as s:
            _zone, at, _ = moments(s, now)
    report = run_tick(engine=engine(migrated=False), now=at, ran_at=clock())  # it checks the revision
    if not as_json:
        return say(report.summary())
    from reconcile.shell.views import tick_data

    emit(tick_data(report), True)


@command(app, panel=WATCH)
def status(
    check: Annotated[bool, typer.Option("--check", help=(
        "Only check that ticks run: one line, exit 5 if the last is older than --max-age."))] = False,
    max_age: Annotated[str, typer.Option(
        metavar="DURATION", help="With --check: the oldest acceptable last tick.")] = "2m",
    now: Now = None, as_json: Json = False,
) -> None:
    """Show the runs: running, paused, pending, with priority, planned start and end, lateness."""
    from reconcile.presentation import render
    from reconcile.shell import views

    max_age_s = seconds(max_age, "--max-age")
    with session(write=False) as s:
        _zone, at, _ = moments(s, now)
        fresh, line = views.check(s, now=at, max_age_s=max_age_s) if check else (True, "")
        view = None if check else views.status(s)
    if check:
        say(line, console=out if fresh else err)
        raise typer.Exit(ExitStatus.OK if fresh else ExitStatus.STALE)
    if not as_json:
        say(render.status_header(view, at))
    emit(view, as_json, render.status(view, at))


@command(app, panel=WATCH)
def timetable(hours: Annotated[float | None, typer.Option(
        metavar="N", help="Hours to chart.", show_default="the home's horizon")] = None,
        as_json: Json = False) -> None:
    """Chart the newest plan: planned load per slot against capacity (limit + PV - base load)."""
    from reconcile.presentation import render
    from reconcile.shell import timetable_view

    if hours is not None and not 0 < hours <= 14 * 24:
        raise ReconcileError(f"--hours {hours:g} must be above 0 and at most 336 (two weeks)")
    with session(write=False) as s:
        view = timetable_view.timetable(s, hours=hours)
    if as_json or view.tick is None:
        return emit(view, True) if as_json else say("no plan yet: run `wattplan tick`")
    out.print(render.chart(view))
    out.print(render.entries(view))


@command(app, panel=WATCH)
def decisions(
    since: Annotated[str | None, option("TIME", "From TIME on (HH:MM: the last one).", "24 hours ago")
                     ] = None,
    pending: Annotated[bool, typer.Option("--pending", help=(
        "Only what an actuator may still act on: the newest decision per run, if valid."))] = False,
    now: Now = None, as_json: Json = False,
) -> None:
    """List the ticks' start, pause, resume and stop decisions, oldest first."""
    from reconcile.presentation import render
    from reconcile.shell import views

    with session(write=False) as s:
        zone, at, times = moments(s, now, since=since)
        start = times["since"] or at - timedelta(hours=24)
        start -= timedelta(days=1) if start > at else timedelta(0)  # HH:MM: the last one, not the next
        rows = views.decisions(s, now=at, since=start, pending=pending)
    emit(rows, as_json, render.decisions(rows, zone, at))


@command(app, panel=WATCH)
def state(now: Now = None, as_json: Json = False) -> None:
    """What each appliance should be doing now: the answer an actuator polls (exit 5 when stale)."""
    from reconcile.presentation import render
    from reconcile.shell import views

    with session(write=False) as s:
        zone, at, _ = moments(s, now)
        rows, fresh = views.state(s, now=at)
    emit(rows, as_json, render.state(rows, zone, at))
    if not fresh:
        raise typer.Exit(ExitStatus.STALE)


@command(app, panel=TRY)
def demo() -> None:
    """Replay the sample day with wattplan and with no scheduler, side by side; writes wattplan-demo.svg."""
    from reconcile.presentation.comparison import comparison_table, run_demo

    results, picture = run_demo(Path.cwd(), out, clock())
    out.print(comparison_table(results))
    say(f"wrote {picture}: the load of both days against the limit (open it in a browser)")


@command(app, panel=TRY)
def simulate(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="A scenario file (docs/scenario.md).")],
    policy: Annotated[str, option("NAME", (
        "wattplan; immediate: every run starts when asked; optimal: the exact planner (needs the optimal extra)."),
        "wattplan")] = "wattplan",
    plot: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write the picture (SVG) to FILE.")
                    ] = None,
    as_json: Json = False,
) -> None:
    """Replay a scenario with the real tick on a throwaway database, minute by minute; print its metrics."""
    from reconcile.presentation.comparison import comparison_table, result_as_dict
    from reconcile.presentation.svg import write_svg
    from reconcile.simulation.scenario import load_scenario
    from reconcile.simulation.simulate import simulate as replay

    result = replay(load_scenario(scenario), policy=policy)
    if plot is not None:
        write_svg(plot, [result])
    emit(result_as_dict(result), as_json, comparison_table([result]))
