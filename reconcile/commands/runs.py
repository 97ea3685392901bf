"""Ask for runs: enqueue, cancel, done and list."""

from typing import Annotated

import typer

from reconcile.commands.base import (
    Id,
    Json,
    Now,
    Panel,
    clock,
    emit,
    err,
    moments,
    option,
    say,
    seconds,
    session,
)

PANEL = Panel("Ask for runs")


@PANEL.command()
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
    energy: Annotated[str | None, option("ENERGY", "A modulating appliance's run: the energy to deliver, "
                                                   "e.g. 20kWh.")] = None,
    now: Now = None,
) -> None:
    """Ask for a run; prints its execution id.

    TIME is ISO 8601 (2026-06-30T18:00) or HH:MM (the next one), in the home's timezone.
    """
    from reconcile.shell.requests import Request, earliest_end_past_deadline
    from reconcile.shell.requests import enqueue as enqueue_run
    from reconcile.units import dst_note, parse_energy

    within_s = seconds(within, "--within")
    energy_wh = None if energy is None else parse_energy(energy, what="--energy")
    with session() as s:
        zone, at, times = moments(s, now, not_before=not_before, by=by)
        execution = enqueue_run(s, now=at, request=Request(
            appliance, program, times["not_before"], within_s, times["by"], priority_class, objective, energy_wh))
        late_end = earliest_end_past_deadline(s, execution)
    say(str(execution.id))
    for what, text in (("--not-before", not_before), ("--by", by)):  # a time the clocks skip or repeat
        note = dst_note(text, times[what[2:].replace("-", "_")], zone, what=what) if text else None
        if note:
            say(f"warning: {note}", console=err)
    if late_end is not None:  # accepted: late is better than never, but the person should know
        ends, deadline = (moment.astimezone(zone) for moment in (late_end, execution.latest_end))
        say(f"warning: execution #{execution.id} ends at {ends:%Y-%m-%d %H:%M} at the earliest, after its "
            f"deadline {deadline:%Y-%m-%d %H:%M}", console=err)


def _end(execution_id: int, now: str | None, reason: str) -> None:
    from reconcile.shell.requests import end, get_execution

    with session() as s:
        zone, at, _ = moments(s, now)
        running = get_execution(s, execution_id).state == "running"
        change = end(s, now=at, execution_id=execution_id, reason=reason)
    if change.event == "complete":  # its program was over before the user said so: the history keeps that
        when = change.ended_at.astimezone(zone)
        say(f"execution #{execution_id} had already finished its program at {when:%H:%M}: recorded completed; "
            "the next tick tells its appliance to stop")
        return
    verb = "cancelled" if reason == "cancelled" else "marked done"
    say(f"{verb} execution #{execution_id}" + ("; the next tick tells its appliance to stop" * running))


@PANEL.command()
def cancel(execution_id: Id, now: Now = None) -> None:
    """Cancel a run; a running appliance is told to stop at the next tick."""
    _end(execution_id, now, "cancelled")


@PANEL.command()
def done(execution_id: Id, now: Now = None) -> None:
    """Report that a run finished early (the appliance said so); its power is freed at the next tick."""
    _end(execution_id, now, "done")


@PANEL.command("list")
def list_(all_: Annotated[bool, typer.Option("--all", help="Include finished and cancelled runs.")] = False,
          as_json: Json = False) -> None:
    """List the open runs (every run with --all)."""
    from zoneinfo import ZoneInfo

    from reconcile.presentation import render
    from reconcile.shell import views

    with session(write=False) as s:
        zone, rows = ZoneInfo(views.home(s).timezone), views.executions(s, include_closed=all_)
    emit(rows, as_json, render.executions(rows, zone, clock(), closed=all_))
