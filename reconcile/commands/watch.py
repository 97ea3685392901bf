"""Reconcile and watch: tick, status, timetable, decisions and state."""

from datetime import UTC, timedelta
from typing import Annotated

import typer

from reconcile.commands.base import (
    Json,
    Now,
    Panel,
    clock,
    emit,
    engine,
    err,
    home_name,
    moments,
    option,
    out,
    say,
    seconds,
    session,
)
from reconcile.commands.mqtt import broker_failed, meter_line
from reconcile.errors import ExitStatus, ReconcileError
from reconcile.units import parse_time

PANEL = Panel("Reconcile and watch")


@PANEL.command()
def tick(now: Now = None, as_json: Json = False, keep: Annotated[str, option(
        "DURATION", "Prune ticks and decisions older than this (executions stay; 0: keep all).", "90d")
        ] = "90d", every_home: Annotated[bool, typer.Option("--all", help=(
            "Tick every home of the database once, one line each (not with --json)."))] = False) -> None:
    """Reconcile once: finish, prioritise, plan and decide. The timer runs this every minute."""
    from reconcile.commands.homes import keep_seconds, tick_all, tick_one

    keep_s = keep_seconds(keep)
    if every_home and (as_json or home_name()):
        raise ReconcileError("--all ticks every home: it takes neither --json nor --home")
    at = clock()
    if now is not None and every_home:  # homes have their own time zones: TIME is UTC unless it says
        at = parse_time(now, now=at, zone=UTC, what="--now")
    elif now is not None:
        with session(write=False) as s:
            _zone, at, _ = moments(s, now)
    if every_home:
        return tick_all(at, keep_s)
    report = tick_one(engine(migrated=False), home=home_name(), now=at, ran_at=clock(), keep_s=keep_s)
    mqtt = report if hasattr(report, "broker_problem") else None  # the home talks MQTT (issue 12)
    if not as_json:
        say(report.summary())
    else:
        from reconcile.shell.views import tick_data

        emit(tick_data(report if mqtt is None else mqtt.tick) | ({} if mqtt is None else {"mqtt": mqtt.summary()}),
             True)
    if mqtt is not None:
        broker_failed(mqtt)


@PANEL.command()
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
        meter = None if check or as_json else meter_line(s, at)  # issue 12: the MQTT meter's reading
    if check:
        say(line, console=out if fresh else err)
        raise typer.Exit(ExitStatus.OK if fresh else ExitStatus.STALE)
    if not as_json:
        say(render.status_header(view, at))
        if meter:
            say(meter)
    emit(view, as_json, render.status(view, at))


@PANEL.command()
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


@PANEL.command()
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


@PANEL.command()
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
