"""Asking for runs and ending them: `enqueue`, `cancel`, `done`. The tick does the rest."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlmodel import Session

from models import OBJECTIVES, Appliance, Execution, Profile
from reconcile.errors import ReconcileError
from reconcile.planner.domain import OPEN_STATES, Transition
from reconcile.planner.states import RefusedTransition, transition
from reconcile.shell.catalog import (
    MAX_PROGRAM_S,
    check_fits,
    check_priority_class,
    find_appliance,
    find_program,
)
from reconcile.shell.store import load_home, load_run
from reconcile.shell.writer import transition_columns
from reconcile.units import format_duration, format_power


@dataclass(frozen=True, slots=True)
class Request:
    appliance: str
    program: str | None = None
    not_before: datetime | None = None
    within_s: int | None = None
    by: datetime | None = None
    priority_class: int | None = None
    objective: str | None = None
    energy_wh: float | None = None  # a modulating appliance's run: the energy asked for


def enqueue(session: Session, *, now: datetime, request: Request) -> Execution:
    """Store a new pending execution; the deadline sets the age at which priority reaches 10.

    The maximum delay is counted to the latest start that still meets the deadline, so a run
    is at priority 10 exactly when waiting any longer would make it late.
    """
    home = load_home(session)
    appliance = find_appliance(session, home.id, request.appliance)
    program = find_program(session, appliance, request.program)
    check_fits(program.name, program.peak_w, home.limit_w)  # the limit may have been lowered since
    duration_s = _energy_duration(appliance, request.energy_wh) or program.duration_s
    earliest = max(now, request.not_before) if request.not_before else now
    latest_end = _deadline(request, earliest, now, appliance.max_delay_s, duration_s, home.timezone)
    klass = request.priority_class if request.priority_class is not None else appliance.priority_class
    check_priority_class(klass)
    if request.objective is not None and request.objective not in OBJECTIVES:
        raise ReconcileError(f"unknown objective {request.objective!r}: choose {', '.join(OBJECTIVES)}")
    max_delay = None
    if latest_end is not None:
        max_delay = max(1, round((latest_end - now).total_seconds()) - duration_s)
    execution = Execution(home_id=home.id, appliance_id=appliance.id, profile_id=program.id,
                          requested_at=now, earliest_start=earliest, latest_end=latest_end,
                          max_delay_s=max_delay, priority_class=klass, priority=klass,
                          objective=request.objective, state="pending", state_since=now,
                          energy_wh=request.energy_wh)
    session.add(execution)
    session.flush()
    return execution


def _energy_duration(appliance, energy_wh: float | None) -> int | None:
    """Seconds a modulating run of `energy_wh` takes at full power (None: a program's run)."""
    if appliance.max_power_w is None:
        if energy_wh is not None:
            raise ReconcileError(f"appliance {appliance.name!r} does not modulate: --energy needs an appliance "
                                 "added with --max-power or --current; it runs its program")
        return None
    if energy_wh is None:
        raise ReconcileError(f"appliance {appliance.name!r} modulates: ask for an energy, e.g. --energy 20kWh")
    seconds = round(energy_wh * 3600 / appliance.max_power_w)
    if seconds > MAX_PROGRAM_S:
        raise ReconcileError(f"an energy of {energy_wh / 1000:g}kWh takes {format_duration(seconds)} at "
                             f"{format_power(appliance.max_power_w)}, longer than the longest accepted, 48h")
    return max(1, seconds)


def _deadline(request: Request, earliest: datetime, now: datetime, default_delay: int | None,
              duration_s: int, timezone: str) -> datetime | None:
    if request.by is not None and request.within_s is not None:
        raise ReconcileError("give either --within or --by, not both")
    if request.by is not None:
        if request.by <= now:
            zone = ZoneInfo(timezone)  # say it in the home's time, as the user wrote it
            raise ReconcileError(f"--by {request.by.astimezone(zone):%Y-%m-%d %H:%M} is in the past "
                                 f"(it is {now.astimezone(zone):%Y-%m-%d %H:%M} in {timezone})")
        if request.not_before is not None and request.by <= request.not_before:
            raise ReconcileError("--by must be after --not-before")
        return request.by
    if request.within_s is not None:
        return earliest + timedelta(seconds=request.within_s)
    if default_delay is not None:  # the appliance's maximum delay applies to the start
        return earliest + timedelta(seconds=default_delay + duration_s)
    return None


def earliest_end_past_deadline(session: Session, execution: Execution) -> datetime | None:
    """When `execution` ends at the earliest (starting at its earliest start and never paused), if
    that is after its deadline: accepted all the same, the CLI warns."""
    duration_s = session.get(Profile, execution.profile_id).duration_s
    if execution.energy_wh is not None:  # a modulating run: its energy at full power
        duration_s = _energy_duration(session.get(Appliance, execution.appliance_id), execution.energy_wh)
    earliest_end = execution.earliest_start + timedelta(seconds=duration_s)
    late = execution.latest_end is not None and earliest_end > execution.latest_end
    return earliest_end if late else None


MAX_ID = 2**63 - 1  # SQLite's and PostgreSQL's largest integer key


def get_execution(session: Session, execution_id: int) -> Execution:
    """The execution `execution_id` of the session's home: ids people give are checked against it."""
    execution = session.get(Execution, execution_id) if 1 <= execution_id <= MAX_ID else None
    if execution is None or execution.home_id != load_home(session).id:
        raise ReconcileError(f"no execution #{execution_id} in this home: `wattplan list --all` shows them")
    return execution


def end(session: Session, *, now: datetime, execution_id: int, reason: str) -> Transition:
    """End an execution the user stopped (`cancelled`) or the appliance reported over (`done`).

    The state machine decides (a run whose profile was already over is recorded completed at its
    end); its power is freed at the next tick, which also tells a running appliance to stop. A run
    never ends before it started: after the clock came back (a tick then restarts a running run's
    record at the earlier instant), the end is recorded at its `started_at` (README, "Clock").
    """
    home = load_home(session)
    execution = get_execution(session, execution_id)
    run = load_run(session, home.id, execution_id)
    if run is None:
        raise ReconcileError(f"execution #{execution_id} is already {execution.state}")
    try:
        change = transition(run, "cancel" if reason == "cancelled" else "done", now)
    except RefusedTransition as refused:
        hint = f"; use `wattplan cancel {execution_id}`" if run.state == "pending" else ""
        raise ReconcileError(f"execution #{execution_id} {refused}{hint}") from None
    change = _not_before_start(change, execution.started_at)
    session.execute(update(Execution), [{"id": execution_id, **transition_columns(change)}])
    return change


def _not_before_start(change: Transition, started_at: datetime | None) -> Transition:
    """`change`, an end, moved to `started_at` if it fell before it (the clock was behind)."""
    if started_at is None or change.ended_at is None or change.ended_at >= started_at:
        return change
    return replace(change, state_since=started_at, ended_at=started_at)


def list_executions(session: Session, *, include_closed: bool) -> list[Execution]:
    home = load_home(session)
    query = select(Execution).where(Execution.home_id == home.id)
    if not include_closed:
        query = query.where(Execution.state.in_(OPEN_STATES))
    return list(session.execute(query.order_by(Execution.id)).scalars())


