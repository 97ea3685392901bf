"""The shell's database side of a tick: rows to frozen values, and a plan back to rows."""

import json
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, delete, func, select, type_coerce, update
from sqlmodel import Session

from models import Appliance, Decision, Execution, Forecast, Home, Profile, Tick, TimetableEntry
from reconcile.errors import ReconcileError
from reconcile.planner import domain
from reconcile.planner.domain import (
    DECISION_TTL_S,
    ENDED_STATES,
    OPEN_STATES,
    Interval,
    Plan,
    Run,
    Shape,
    Snapshot,
    Transition,
)
from reconcile.units import utc


def load_home(session: Session) -> Home:
    """The home (one per database for now); a clear error before `wattplan init`."""
    home = session.exec(select(Home).order_by(Home.id)).scalars().first()
    if home is None:
        raise ReconcileError("no home configured yet: run `wattplan init --limit 6.9kW --timezone Europe/Lisbon`")
    return home


def home_value(home: Home) -> domain.Home:
    return domain.Home(home.id, home.limit_w, home.timezone, home.slot_s, home.horizon_s, home.reserve_w,
                       home.objective, home.planner)


def load_snapshot(*, session: Session, home: Home, now: datetime | None = None,
                  for_planning: bool = False) -> Snapshot:
    """Every open execution of `home` as a `Run`; rows that cannot be read become problems.

    With `now`, forecasts that ended before it and runs that ended over a day before it are
    left out: the tick never looks back, and its reads stay flat as history grows.
    `for_planning` (the tick) skips the forecasts when no run is open.
    """
    runs, problems = [], []
    for row in session.execute(_open_runs_query(home.id)):
        try:
            runs.append(_run(row))
        except (ValueError, TypeError, KeyError) as error:
            problems.append(f"execution #{row.Execution.id} skipped: {error}")
    if runs or not for_planning:
        series = _series(session, home.id, now)
    else:  # nothing to plan: the forecasts would not be looked at
        series = {"pv": (), "base": (), "price": ()}
    return Snapshot(
        home=home_value(home),
        runs=tuple(runs),
        ended=_ended(session, home.id, now),
        pv=series["pv"],
        base=series["base"],
        price=series["price"],
        problems=tuple(problems),
        last_tick_at=last_tick_now(session, home.id),
    )


def _last_decision():
    return (
        select(Decision.kind).where(Decision.execution_id == Execution.id)
        .order_by(Decision.id.desc()).limit(1).scalar_subquery()
    )


def load_run(session: Session, home_id: int, execution_id: int) -> Run | None:
    """One open execution of `home_id` as a `Run` (None if it is not open or not there)."""
    row = session.execute(_open_runs_query(home_id).where(Execution.id == execution_id)).first()
    if row is None:
        return None
    try:
        return _run(row)
    except (ValueError, TypeError, KeyError) as error:
        raise ReconcileError(f"execution #{execution_id} cannot be read: {error}") from None


def _open_runs_query(home_id: int):
    return (
        select(
            Execution, Appliance.name.label("appliance"), Appliance.interruptible,
            Appliance.min_run_s, Appliance.min_pause_s, Profile.name.label("program"), Profile.slot_s,
            type_coerce(Profile.watts, String).label("watts"),
            type_coerce(Profile.peak_watts, String).label("peaks"),
            _last_decision().label("last_command"),
        )
        .outerjoin(Appliance, Appliance.id == Execution.appliance_id)
        .outerjoin(Profile, Profile.id == Execution.profile_id)
        .where(Execution.home_id == home_id, Execution.state.in_(OPEN_STATES))
        .order_by(Execution.id)
    )


def _run(row) -> Run:
    execution: Execution = row.Execution
    if row.appliance is None or row.program is None:
        raise ValueError("its appliance or program no longer exists")
    return Run(
        id=execution.id, appliance=row.appliance, program=row.program,
        interruptible=bool(row.interruptible), shape=_shape(row.slot_s, row.watts, row.peaks),
        requested_at=execution.requested_at, earliest_start=execution.earliest_start,
        priority_class=execution.priority_class, state=execution.state,
        state_since=execution.state_since, progress_s=execution.progress_s,
        latest_end=execution.latest_end, max_delay_s=execution.max_delay_s,
        min_run_s=row.min_run_s or 0, min_pause_s=row.min_pause_s or 0,
        objective=execution.objective, last_command=row.last_command,
    )


def _shape(slot_s: int, watts_text: str, peaks_text: str) -> Shape:
    """A profile from its stored JSON, validated: the planner trusts what this returns."""
    try:
        watts, peaks = json.loads(watts_text), json.loads(peaks_text)
    except (json.JSONDecodeError, TypeError):
        raise ValueError("its program's power curve is not valid JSON") from None
    values = [*watts, *peaks] if isinstance(watts, list) and isinstance(peaks, list) else None
    if not values or len(watts) != len(peaks) or not slot_s or slot_s <= 0:
        raise ValueError("its program's power curve is empty or inconsistent")
    if not all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in values):
        raise ValueError("its program's power curve has a negative or non-numeric value")
    return Shape(slot_s, tuple(map(float, watts)), tuple(max(w, p) for w, p in zip(watts, peaks, strict=True)))


def _ended(session: Session, home_id: int, now: datetime | None) -> tuple[domain.Ended, ...]:
    """Ended runs whose appliance was last told to run: they still need their stop."""
    query = (
        select(Execution.id, Execution.state, Execution.end_reason, _last_decision().label("last"))
        .where(Execution.home_id == home_id, Execution.state.in_(ENDED_STATES))
        .where(_last_decision().in_(("start", "resume")))
        .order_by(Execution.id)
    )
    if now is not None:  # a stop owed for over a day is moot: `state` already says "off"
        query = query.where(Execution.ended_at >= now - timedelta(days=1))
    return tuple(domain.Ended(r.id, r.state, r.end_reason, r.last) for r in session.execute(query))


def _series(session: Session, home_id: int, now: datetime | None) -> dict[str, tuple[Interval, ...]]:
    """The forecast series by kind, as epoch-second intervals (raw column values: no type hop)."""
    query = (
        select(Forecast.kind, type_coerce(Forecast.starts_at, String), type_coerce(Forecast.ends_at, String),
               Forecast.value)
        .where(Forecast.home_id == home_id).order_by(Forecast.kind, Forecast.starts_at)
    )
    if now is not None:
        query = query.where(Forecast.ends_at > now)
    series: dict[str, list[Interval]] = {"pv": [], "base": [], "price": []}
    for kind, start, end, value in session.execute(query):
        series[kind].append(Interval(_epoch(start), _epoch(end), value))
    return {kind: tuple(intervals) for kind, intervals in series.items()}


def _epoch(stored: str | datetime) -> float:
    """Epoch seconds of a stored UTC instant ('YYYY-MM-DD HH:MM:SS[.ffffff]' on SQLite)."""
    if isinstance(stored, datetime):
        return utc(stored).timestamp()
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).timestamp()


def last_tick_now(session: Session, home_id: int) -> datetime | None:
    return session.execute(select(func.max(Tick.now)).where(Tick.home_id == home_id)).scalar()


def apply(*, session: Session, home_id: int, tick: Tick, plan: Plan) -> None:
    """Write `plan` back: state changes, priorities, decisions, timetable, tick counts."""
    now = plan.now
    changes: dict[int, dict] = {rid: {"id": rid, "priority": p} for rid, p in plan.priorities}
    for change in plan.transitions:
        changes.setdefault(change.execution_id, {"id": change.execution_id}).update(transition_columns(change))
    _write_plan_columns(changes, plan)
    if changes:
        session.execute(update(Execution), list(changes.values()))
    session.add_all(
        Decision(home_id=home_id, tick_id=tick.id, execution_id=d.execution_id, kind=d.kind, at=now,
                 valid_until=now + timedelta(seconds=DECISION_TTL_S), reason=d.reason)
        for d in plan.decisions
    )
    _write_timetable(session, home_id, tick.id, plan)
    tick.finished, tick.decisions = len(plan.finished), len(plan.decisions)
    tick.planned, tick.unplaced = len(plan.placements), len(plan.unplaced)
    tick.problems = list(plan.problems)


def transition_columns(change: Transition) -> dict:
    """The execution columns a state change sets; an ended run has no plan any more."""
    columns = {"state": change.state, "state_since": change.state_since, "progress_s": change.progress_s}
    if change.started_at is not None:
        columns["started_at"] = change.started_at
    if change.ends:
        columns.update(ended_at=change.ended_at, end_reason=change.end_reason, planned_start=None,
                       planned_end=None, late_s=None, note=None)
    return columns


def _write_plan_columns(changes: dict[int, dict], plan: Plan) -> None:
    for placement in plan.placements:
        changes[placement.execution_id].update(planned_start=placement.start, planned_end=placement.end,
                                              late_s=placement.late_s, note=None)
    for unplaced in plan.unplaced:
        changes[unplaced.execution_id].update(planned_start=None, planned_end=None, late_s=None,
                                             note=unplaced.reason)


def _write_timetable(session: Session, home_id: int, tick_id: int, plan: Plan) -> None:
    session.execute(delete(TimetableEntry).where(TimetableEntry.home_id == home_id))
    session.add_all(
        TimetableEntry(home_id=home_id, tick_id=tick_id, execution_id=p.execution_id, seq=seq,
                       starts_at=s.start, ends_at=s.end, offset_s=round(s.offset_s, 3),
                       energy_wh=s.energy_wh, peak_w=s.peak_w)
        for p in plan.placements for seq, s in enumerate(p.segments)
    )
