"""Read-side queries for the CLI's listings: plain frozen values, no printing.

This module holds the home, appliances and programs, the runs (`status`, `executions`), the
tick's freshness (`check`) and what an actuator polls (`decisions`, `state`). The newest tick's
plan laid out per slot (`wattplan timetable`) is in `reconcile.shell.timetable_view`.

`as_data` turns any of them into JSON-ready dicts (times as ISO 8601 UTC); the README's
"Command reference" documents those keys, which stay stable.
"""

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from models import Appliance, Decision, Execution, Profile, Tick
from reconcile.planner.domain import CLOCK_STEP_BACK_S, DECISION_TTL_S, OPEN_STATES
from reconcile.shell.catalog import find_appliance
from reconcile.shell.store import load_home
from reconcile.units import format_duration

_STATE_ORDER = {"running": 0, "paused": 1, "pending": 2, "finished": 3, "cancelled": 4}


@dataclasses.dataclass(frozen=True, slots=True)
class HomeView:
    limit_w: float
    timezone: str
    slot_s: int
    horizon_s: int
    reserve_w: float
    objective: str


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileView:
    appliance: str
    name: str
    slot_s: int
    duration_s: int
    energy_wh: float
    peak_w: float
    source: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class ApplianceView:
    name: str
    interruptible: bool
    min_run_s: int
    min_pause_s: int
    priority_class: int
    max_delay_s: int | None
    min_power_w: float | None  # a modulating appliance's range and step (None: on/off)
    max_power_w: float | None
    power_step_w: float | None
    relay: str | None  # the relay the tick switches over MQTT
    programs: tuple[ProfileView, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutionView:
    id: int
    appliance: str
    program: str
    state: str
    priority: int
    priority_class: int
    requested_at: datetime
    earliest_start: datetime
    latest_end: datetime | None
    planned_start: datetime | None
    planned_end: datetime | None
    late_s: int | None
    state_since: datetime
    progress_s: float  # profile seconds done when the current state began
    duration_s: int
    started_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    note: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class TickView:
    id: int
    now: datetime
    ran_at: datetime
    duration_ms: float
    decisions: int
    finished: int
    planned: int
    unplaced: int
    problems: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class StatusView:
    home: HomeView
    last_tick: TickView | None
    executions: tuple[ExecutionView, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class DecisionView:
    id: int
    tick_id: int
    execution_id: int
    appliance: str
    program: str
    kind: str
    at: datetime
    valid_until: datetime
    reason: str
    power_w: float | None = None  # a modulating run's setpoint (start, resume); a resume of a running run changes it


@dataclasses.dataclass(frozen=True, slots=True)
class StateView:
    appliance: str
    should_run: bool
    execution_id: int | None
    decision: str | None  # kind of the newest decision about that execution, while it is valid
    valid_until: datetime | None  # act on this answer only until then
    reason: str
    power_w: float | None = None  # a running modulating run's setpoint: draw this much (None: on/off)


def as_data(value: Any) -> Any:
    """Plain JSON-ready data: dataclasses as dicts, datetimes as ISO 8601 UTC (`…Z`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [as_data(item) for item in value]
    if isinstance(value, dict):
        return {key: as_data(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def tick_data(report) -> dict[str, Any]:
    """A `TickReport` as JSON-ready data: what the tick decided, finished, planned and skipped."""
    plan = report.plan
    return as_data({
        "tick_id": report.tick_id, "now": report.now, "duration_ms": report.duration_ms,
        "clock_behind_s": report.clock_behind_s, "summary": report.summary(),
        "decisions": plan.decisions, "finished": plan.finished,
        "planned": [{"execution_id": p.execution_id, "start": p.start, "end": p.end, "late_s": p.late_s,
                     "short_wh": p.short_wh, "missed_wh": p.missed_wh, "earliest_end": p.earliest_end}
                    for p in plan.placements],
        "unplaced": plan.unplaced, "problems": plan.problems,
    })


def home(session: Session) -> HomeView:
    h = load_home(session)
    return HomeView(h.limit_w, h.timezone, h.slot_s, h.horizon_s, h.reserve_w, h.objective)


def profiles(session: Session, appliance: str | None = None) -> list[ProfileView]:
    """Every program, by appliance and name; only `appliance`'s when given."""
    home_id = load_home(session).id
    query = (select(Profile, Appliance.name).join(Appliance, Appliance.id == Profile.appliance_id)
             .where(Profile.home_id == home_id).order_by(Appliance.name, Profile.name))
    if appliance is not None:
        query = query.where(Profile.appliance_id == find_appliance(session, home_id, appliance).id)
    return [ProfileView(owner, p.name, p.slot_s, p.duration_s, p.energy_wh, p.peak_w, p.source)
            for p, owner in session.execute(query)]


def appliances(session: Session, name: str | None = None) -> list[ApplianceView]:
    """Every appliance with its programs, by name; only `name` when given (an error if unknown)."""
    home_id = load_home(session).id
    query = select(Appliance).where(Appliance.home_id == home_id).order_by(Appliance.name)
    if name is not None:
        query = query.where(Appliance.id == find_appliance(session, home_id, name).id)
    programs: dict[str, list[ProfileView]] = {}
    for program in profiles(session, name):
        programs.setdefault(program.appliance, []).append(program)
    return [ApplianceView(a.name, a.interruptible, a.min_run_s, a.min_pause_s, a.priority_class,
                          a.max_delay_s, a.min_power_w, a.max_power_w, a.power_step_w, a.relay,
                          tuple(programs.get(a.name, ())))
            for a in session.execute(query).scalars()]


def executions(session: Session, *, include_closed: bool = False) -> list[ExecutionView]:
    """Open executions (all with `include_closed`): running, paused, pending, then by start and id."""
    home_id = load_home(session).id
    query = (select(Execution, Appliance.name, Profile.name, Profile.duration_s, Appliance.max_power_w)
             .join(Appliance, Appliance.id == Execution.appliance_id)
             .join(Profile, Profile.id == Execution.profile_id)
             .where(Execution.home_id == home_id))
    if not include_closed:
        query = query.where(Execution.state.in_(OPEN_STATES))
    rows = [_execution(*row) for row in session.execute(query)]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (_STATE_ORDER[r.state], r.planned_start or far, r.id))


def _execution(e: Execution, appliance: str, program: str, duration_s: int, max_power_w: float | None = None
               ) -> ExecutionView:
    if e.energy_wh is not None and max_power_w:  # a modulating run: its energy at full power, as progress_s counts
        duration_s = max(1, round(e.energy_wh * 3600 / max_power_w))
    return ExecutionView(e.id, appliance, program, e.state, e.priority, e.priority_class, e.requested_at,
                         e.earliest_start, e.latest_end, e.planned_start, e.planned_end, e.late_s,
                         e.state_since, round(e.progress_s, 3), duration_s, e.started_at, e.ended_at,
                         e.end_reason, e.note)


def last_tick(session: Session) -> TickView | None:
    home_id = load_home(session).id
    tick = session.execute(select(Tick).where(Tick.home_id == home_id).order_by(Tick.id.desc()).limit(1)
                           ).scalars().first()
    if tick is None:
        return None
    return TickView(tick.id, tick.now, tick.ran_at, tick.duration_ms, tick.decisions, tick.finished,
                    tick.planned, tick.unplaced, tuple(tick.problems or ()))


def status(session: Session) -> StatusView:
    return StatusView(home(session), last_tick(session), tuple(executions(session)))


def check(session: Session, *, now: datetime, max_age_s: int) -> tuple[bool, str]:
    """(fresh, one line): is the newest tick younger than `max_age_s` by the wall clock?"""
    tick = last_tick(session)
    if tick is None:
        return False, "stale: no tick has run yet"
    age = (now - tick.ran_at).total_seconds()
    ago = f"last tick #{tick.id} ran {format_duration(max(0.0, age))} ago"
    if age > max_age_s:
        return False, f"stale: {ago}, more than {format_duration(max_age_s)}"
    return True, f"ok: {ago}"


def decisions(session: Session, *, now: datetime, since: datetime | None = None,
              pending: bool = False) -> list[DecisionView]:
    """Decisions made since `since`, oldest first.

    `pending`: only what an actuator may still act on at `now`: the newest decision per execution,
    while it is valid (`valid_until > now`, made no more than CLOCK_STEP_BACK_S ahead of `now`); a
    start or resume of a run the user has ended since is withdrawn. Stale decisions are never offered.
    """
    home_id = load_home(session).id
    query = (select(Decision, Appliance.name, Profile.name, Execution.state)
             .join(Execution, Execution.id == Decision.execution_id)
             .join(Appliance, Appliance.id == Execution.appliance_id)
             .join(Profile, Profile.id == Execution.profile_id)
             .where(Decision.home_id == home_id).order_by(Decision.id))
    if since is not None:
        query = query.where(Decision.at >= since)
    if pending:
        newest = (select(func.max(Decision.id)).where(Decision.home_id == home_id)
                  .group_by(Decision.execution_id))
        # A decision made more than CLOCK_STEP_BACK_S ahead of `now` is from a clock that jumped.
        query = query.where(Decision.id.in_(newest), Decision.valid_until > now,
                            Decision.at <= now + timedelta(seconds=CLOCK_STEP_BACK_S))
    rows = session.execute(query)
    return [DecisionView(d.id, d.tick_id, d.execution_id, appliance, program, d.kind, d.at, d.valid_until,
                         d.reason, d.power_w)
            for d, appliance, program, state in rows
            if not (pending and d.kind in ("start", "resume") and state != "running")]


def state(session: Session, *, now: datetime) -> tuple[list[StateView], bool]:
    """(what each appliance should be doing at `now`, fresh): the answer an actuator polls.

    Level-triggered: an appliance should run exactly when one of its executions is `running`
    as of the newest tick, and that tick is younger than two periods (`DECISION_TTL_S`). When it
    is older, nothing vouches for any run: every `should_run` is false and `fresh` is False. A
    tick that planned more than CLOCK_STEP_BACK_S ahead of `now` vouches for nothing either (its
    clock had jumped; the next real tick plans at the real instant again): never a day of "run".
    """
    home_id = load_home(session).id
    tick = last_tick(session)
    expires = tick.now + timedelta(seconds=DECISION_TTL_S) if tick else None
    fresh = expires is not None and expires > now and tick.now - now <= timedelta(seconds=CLOCK_STEP_BACK_S)
    newest = {d.execution_id: d for d in decisions(session, now=now, pending=True)}
    rows = session.execute(
        select(Appliance.name, Execution.id, Execution.state, Execution.power_w)
        .outerjoin(Execution, (Execution.appliance_id == Appliance.id) & Execution.state.in_(OPEN_STATES))
        .where(Appliance.home_id == home_id).order_by(Appliance.name, Execution.id))
    by_appliance: dict[str, list[tuple[int, str]]] = {}
    setpoints = {}
    for name, execution_id, execution_state, power_w in rows:
        by_appliance.setdefault(name, [])
        if execution_id is not None:
            by_appliance[name].append((execution_id, execution_state))
            setpoints[execution_id] = power_w
    ended = {d.appliance: d for d in newest.values() if d.kind == "stop"}
    answers = [_appliance_state(name, runs, newest, ended.get(name), fresh, expires, tick)
               for name, runs in by_appliance.items()]
    return [dataclasses.replace(a, power_w=setpoints.get(a.execution_id)) if a.should_run else a
            for a in answers], fresh


def _appliance_state(name, runs, newest, stop, fresh, expires, tick) -> StateView:
    running = [execution_id for execution_id, s in runs if s == "running"]
    if not fresh:
        why = "no tick yet" if tick is None else f"stale: the last tick planned at {as_data(tick.now)}"
        execution_id = running[0] if running else None
        return StateView(name, False, execution_id, None, expires, why + "; act on nothing")
    if running:
        chosen = running[0]
        decision = newest.get(chosen)
        return StateView(name, True, chosen, decision.kind if decision else None, expires,
                         f"execution #{chosen} is running")
    paused = [execution_id for execution_id, s in runs if s == "paused"]
    if paused:
        decision = newest.get(paused[0])
        return StateView(name, False, paused[0], decision.kind if decision else None, expires,
                         f"execution #{paused[0]} is paused")
    if stop is not None:
        return StateView(name, False, stop.execution_id, "stop", expires,
                         f"execution #{stop.execution_id} must stop: {stop.reason}")
    return StateView(name, False, None, None, expires, "nothing to run")
