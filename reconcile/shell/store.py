"""The shell's database side of a tick, reading: rows to frozen values (`shell.writer` writes back).

The tick's statements are SQLAlchemy Core on the models' tables (`Model.__table__`), not ORM
queries: a tick is a fresh process, and the ORM's first query (mapper configuration, ORM compile
state) alone costs about as much as the tick's own work.
"""

import json
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, func, select, type_coerce
from sqlmodel import Session

from models import Appliance, Decision, Execution, Forecast, Home, Profile, Tick, TimetableEntry
from reconcile.errors import ReconcileError
from reconcile.planner import domain
from reconcile.planner.domain import (
    ENDED_STATES,
    OPEN_STATES,
    Interval,
    Run,
    Shape,
    Snapshot,
)
from reconcile.planner.modulating import energy_shape
from reconcile.planner.plan import latest_now
from reconcile.planner.states import covered
from reconcile.units import utc

NO_HOME = "no home configured yet: run `wattplan init --limit 6.9kW --timezone Europe/Lisbon`"
SEVERAL_HOMES = ("this database has several homes: choose one with --home NAME or WATTPLAN_HOME "
                 "(`wattplan home list` shows them)")
EXECUTION, DECISION, TICK, TIMETABLE, HOME = (Execution.__table__, Decision.__table__, Tick.__table__,
                                              TimetableEntry.__table__, Home.__table__)


def load_home(session: Session) -> Home:
    """The session's home as an ORM object, for commands that change it (`chosen_home`)."""
    return _choose(session, select(Home), Home.__table__.c)[0]


def home_row(session: Session):
    """The session's home's row, read with Core (the tick only reads it; `chosen_home`)."""
    return _choose(session, select(Home.__table__), Home.__table__.c)


def chosen_home(session: Session) -> str | None:
    """The home a session acts on: `session.info["home"]` (the CLI's `--home`), None for the only one."""
    return session.info.get("home")


def _choose(session: Session, query, columns):
    """The chosen home's row, locked `FOR UPDATE` in a write transaction on PostgreSQL
    (`session.info["lock_home"]`): every write to a home queues behind the one before, as SQLite's
    single writer does; SQLite ignores the clause. A clear error when no home, or not the only one."""
    name = chosen_home(session)
    query = query.where(columns.name == name) if name is not None else query.order_by(columns.id).limit(2)
    if session.info.get("lock_home"):
        query = query.with_for_update()
    rows = session.execute(query).all()
    if not rows:
        raise ReconcileError(NO_HOME if name is None else (
            f"no home named {name!r}: `wattplan home list` shows the homes; `wattplan init --home {name} "
            "--limit POWER --timezone ZONE` creates it"))
    if len(rows) > 1:
        raise ReconcileError(SEVERAL_HOMES)
    return rows[0]


def home_value(home) -> domain.Home:
    return domain.Home(home.id, home.limit_w, home.timezone, home.slot_s, home.horizon_s, home.reserve_w,
                       home.objective, home.planner)


def load_snapshot(*, session: Session, home, now: datetime | None = None,
                  for_planning: bool = False) -> Snapshot:
    """Every open execution of `home` as a `Run`; rows that cannot be read become problems.

    With `now`, forecasts that ended before it and runs that ended over a day before it are
    left out: the tick never looks back, and its reads stay flat as history grows.
    `for_planning` (the tick) skips the forecasts when no run is open.
    """
    if now is not None:
        _require_plannable(home_value(home), now)
    runs, problems = [], []
    for row in session.execute(_open_runs_query(home.id)):
        try:
            runs.append(_run(row))
        except (ValueError, TypeError, KeyError) as error:
            problems.append(f"execution #{row.id} skipped: {error}")
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
        previous=_previous(session, home.id, now) if runs else (),
        meter=session.info.get("meter"),  # an adapter's reading (adapters.mqtt.inbox), set before the plan
    )


def _previous(session: Session, home_id: int, now: datetime | None) -> tuple[domain.Placement, ...]:
    """The newest tick's timetable, from `now` on: the incumbent plan (`planner.incumbent`)."""
    t = TIMETABLE.c
    query = (select(t.execution_id, t.starts_at, t.ends_at, t.offset_s, t.energy_wh, t.peak_w)
             .where(t.home_id == home_id).order_by(t.execution_id, t.seq))
    if now is not None:
        query = query.where(t.ends_at > now)
    by_run: dict[int, list[domain.Segment]] = {}
    for row in session.execute(query):
        segment = domain.Segment(utc(row.starts_at), utc(row.ends_at), row.offset_s, row.energy_wh, row.peak_w)
        by_run.setdefault(row.execution_id, []).append(segment)
    return tuple(domain.Placement(run_id, tuple(segments)) for run_id, segments in by_run.items())


def _require_plannable(home: domain.Home, now: datetime) -> None:
    """A `now` whose planning horizon would run past the end of the calendar is refused in one line."""
    latest = latest_now(home)
    if now > latest:
        raise ReconcileError(f"cannot plan at {now:%Y-%m-%d %H:%M}Z: the {home.horizon_s}s planning horizon would "
                             f"run past the end of the calendar; the latest instant to plan at is {latest:%Y-%m-%d}")


def _last_decision():
    return (
        select(DECISION.c.kind).where(DECISION.c.execution_id == EXECUTION.c.id)
        .order_by(DECISION.c.id.desc()).limit(1).scalar_subquery()
    )


def load_run(session: Session, home_id: int, execution_id: int) -> Run | None:
    """One open execution of `home_id` as a `Run`, its progress covered by the newest tick (None
    if it is not open or not there)."""
    row = session.execute(_open_runs_query(home_id).where(EXECUTION.c.id == execution_id)).first()
    if row is None:
        return None
    try:
        last = last_tick_now(session, home_id)
        return covered(_run(row), last, last)  # ended at any instant: counted no further than the cover
    except (ValueError, TypeError, KeyError) as error:
        raise ReconcileError(f"execution #{execution_id} cannot be read: {error}") from None


def _open_runs_query(home_id: int):
    appliance, profile = Appliance.__table__.c, Profile.__table__.c
    return (
        select(
            EXECUTION, appliance.name.label("appliance"), appliance.interruptible,
            appliance.min_run_s, appliance.min_pause_s, appliance.min_power_w, appliance.max_power_w,
            appliance.power_step_w, profile.name.label("program"),
            profile.slot_s.label("profile_slot_s"),
            type_coerce(profile.watts, String).label("watts"),
            type_coerce(profile.peak_watts, String).label("peaks"),
            _last_decision().label("last_command"),
        )
        .outerjoin(Appliance.__table__, appliance.id == EXECUTION.c.appliance_id)
        .outerjoin(Profile.__table__, profile.id == EXECUTION.c.profile_id)
        .where(EXECUTION.c.home_id == home_id, EXECUTION.c.state.in_(OPEN_STATES))
        .order_by(EXECUTION.c.id)
    )


def _run(row) -> Run:
    if row.appliance is None or row.program is None:
        raise ValueError("its appliance or program no longer exists")
    return Run(
        id=row.id, appliance=row.appliance, program=row.program,
        interruptible=bool(row.interruptible) or _modulating(row) is not None,
        shape=_modulating(row) or _shape(row.profile_slot_s, row.watts, row.peaks),
        requested_at=row.requested_at, earliest_start=row.earliest_start,
        priority_class=row.priority_class, state=row.state,
        state_since=row.state_since, progress_s=row.progress_s,
        latest_end=row.latest_end, max_delay_s=row.max_delay_s,
        min_run_s=row.min_run_s or 0, min_pause_s=row.min_pause_s or 0,
        objective=row.objective, last_command=row.last_command,
        **_power_range(row),
    )


def _modulating(row) -> Shape | None:
    """A modulating run's profile: its energy at its appliance's maximum power (None: a program's run)."""
    if row.max_power_w is None or row.energy_wh is None:
        return None
    if not (row.energy_wh > 0 and row.max_power_w > 0 and math.isfinite(row.energy_wh * row.max_power_w)):
        raise ValueError("its energy or its appliance's power range is not positive")
    return energy_shape(row.energy_wh, row.max_power_w)


def _power_range(row) -> dict:
    if row.max_power_w is None or row.energy_wh is None:
        return {}
    return {"min_power_w": row.min_power_w or 0.0, "max_power_w": row.max_power_w,
            "power_step_w": row.power_step_w or None, "power_w": row.power_w}


def _shape(slot_s: int, watts_stored: str | list, peaks_stored: str | list) -> Shape:
    """A profile from its stored JSON, validated: the planner trusts what this returns. SQLite hands
    back the JSON text (read raw: people may have edited it); PostgreSQL's driver the parsed list."""
    try:
        watts, peaks = (v if isinstance(v, list) else json.loads(v) for v in (watts_stored, peaks_stored))
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
        select(EXECUTION.c.id, EXECUTION.c.state, EXECUTION.c.end_reason, _last_decision().label("last"))
        .where(EXECUTION.c.home_id == home_id, EXECUTION.c.state.in_(ENDED_STATES))
        .where(_last_decision().in_(("start", "resume")))
        .order_by(EXECUTION.c.id)
    )
    if now is not None:  # a stop owed for over a day is moot: `state` already says "off"
        query = query.where(EXECUTION.c.ended_at >= now - timedelta(days=1))
    return tuple(domain.Ended(r.id, r.state, r.end_reason, r.last) for r in session.execute(query))


def _series(session: Session, home_id: int, now: datetime | None) -> dict[str, tuple[Interval, ...]]:
    """The forecast series by kind, as epoch-second intervals (raw column values: no type hop)."""
    forecast = Forecast.__table__.c
    query = (
        select(forecast.kind, type_coerce(forecast.starts_at, String), type_coerce(forecast.ends_at, String),
               forecast.value)
        .where(forecast.home_id == home_id).order_by(forecast.kind, forecast.starts_at)
    )
    if now is not None:
        query = query.where(forecast.ends_at > now)
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
    """The newest tick's `now`: the last one written (a clock that came back makes `now`s go down)."""
    return session.execute(select(TICK.c.now).where(TICK.c.home_id == home_id).order_by(TICK.c.id.desc())
                           .limit(1)).scalar()


def change_marks(session: Session, home_id: int, runs_up_to: int) -> tuple:
    """A cheap fingerprint of what a tick's plan rests on, runs requested after `runs_up_to` aside:
    the home row, the newest tick and decision, the open runs up to that id (an ended run leaves
    them), the appliances, programs and forecasts. Equal marks: a plan made on the first read is
    still the plan of the second one, except for runs requested in between (planned next tick)."""
    e, forecast = EXECUTION.c, Forecast.__table__.c
    appliance, profile = Appliance.__table__.c, Profile.__table__.c
    runs = (select(func.count(), func.max(e.state_since), func.total(e.progress_s))
            .where(e.home_id == home_id, e.state.in_(OPEN_STATES), e.id <= runs_up_to))
    newest = [select(func.max(TICK.c.id)).where(TICK.c.home_id == home_id),
              select(func.max(DECISION.c.id)).where(DECISION.c.home_id == home_id)]
    counted = [select(func.count(), func.max(c.id)).where(c.home_id == home_id)
               for c in (appliance, profile, forecast)]
    home = session.execute(select(Home.__table__).where(Home.__table__.c.id == home_id)).first()
    return (tuple(home), *(session.execute(q).one() for q in (runs, *counted)),
            *(session.execute(q).scalar() for q in newest))


def newest_run_id(session: Session, home_id: int) -> int:
    return session.execute(select(func.max(EXECUTION.c.id)).where(EXECUTION.c.home_id == home_id)).scalar() or 0
