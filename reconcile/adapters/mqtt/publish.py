"""What each tick publishes, retained, after its commit: the whole truth every time (level-triggered),
so a subscriber that connects late, or after the broker was down, sees the current state.

Times are ISO 8601 UTC, powers W. Keys: docs/home-assistant.md, "Topics and payloads".
"""

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from models import Appliance, Execution, Profile, TimetableEntry
from reconcile.adapters.mqtt.relays import relay_messages
from reconcile.adapters.mqtt.settings import Settings
from reconcile.adapters.mqtt.topics import dumps
from reconcile.planner.domain import OPEN_STATES, Meter
from reconcile.planner.grid import make_grid
from reconcile.planner.meter import fresh, power_at
from reconcile.shell import views
from reconcile.shell.store import home_row, load_snapshot
from reconcile.shell.topic_ids import derive


def state_messages(session: Session, settings: Settings, now: datetime, meter: Meter | None) -> list[tuple]:
    """(topic, payload, retain) for the status, the site, and every appliance's state and plan;
    then its relay's command, if it has one (not retained: a relay's own state is the truth)."""
    session.info["meter"] = meter
    snapshot = load_snapshot(session=session, home=home_row(session), now=now)
    runs = {run.id: run for run in snapshot.runs}
    states, fresh_tick = views.state(session, now=now)
    plans = _plans(session, settings.home_id)
    relays = dict(session.execute(select(Appliance.name, Appliance.relay).where(
        Appliance.home_id == settings.home_id, Appliance.relay.is_not(None))).all())
    levels = dict(session.execute(select(Appliance.name, Appliance.topic_id).where(
        Appliance.home_id == settings.home_id)).all())
    prefix, messages, drawing = settings.prefix, [], 0.0
    for row in states:
        run = runs.get(row.execution_id) if row.should_run else None
        setpoint = getattr(row, "power_w", None)  # a modulating run's (issue 11), else its program's power now
        power = setpoint if setpoint is not None else (power_at(run, now.timestamp()) if run else 0.0)
        drawing += power if row.should_run else 0.0
        mine = plans.get(row.appliance, [])
        state = {"should_run": row.should_run, "execution_id": row.execution_id, "power_w": round(power, 1),
                 "valid_until": _iso(row.valid_until), "reason": row.reason, "decision": row.decision,
                 "status": _status(row, mine), "program": _first(mine, "program"),
                 "planned_start": _first(mine, "planned_start"), "planned_end": _first(mine, "planned_end")}
        level = f"{prefix}/{levels.get(row.appliance) or derive(row.appliance)}"  # its stored topic id
        messages += [(f"{level}/state", dumps(state), True), (f"{level}/plan", dumps(mine), True)]
        if row.appliance in relays:
            messages += relay_messages(relays[row.appliance], row.should_run)
    messages.append((f"{prefix}/site", dumps(_site(snapshot, now, drawing, fresh_tick, meter)), True))
    messages.append((f"{prefix}/status", b"online", True))
    return messages


def _site(snapshot, now: datetime, drawing: float, fresh_tick: bool, meter: Meter | None) -> dict:
    capacity = make_grid(snapshot, now.timestamp(), 0).capacity[0]
    return {"limit_w": snapshot.home.limit_w, "capacity_now_w": round(capacity, 1), "planned_w": round(drawing, 1),
            "import_w": None if meter is None else meter.import_w,
            "import_at": None if meter is None else _iso(meter.at),
            "import_fresh": meter is not None and fresh(meter, now.timestamp()),
            "last_tick": _iso(now), "tick_fresh": fresh_tick}


def _plans(session: Session, home_id: int) -> dict[str, list[dict]]:
    """Each appliance's open runs, oldest first, with their planned stretches."""
    stretches: dict[int, list[dict]] = {}
    for entry in session.execute(select(TimetableEntry).where(TimetableEntry.home_id == home_id)
                                 .order_by(TimetableEntry.execution_id, TimetableEntry.seq)).scalars():
        stretches.setdefault(entry.execution_id, []).append(
            {"start": _iso(entry.starts_at), "end": _iso(entry.ends_at), "energy_wh": entry.energy_wh})
    plans: dict[str, list[dict]] = {}
    rows = session.execute(select(Execution, Appliance.name, Profile.name).join(
        Appliance, Appliance.id == Execution.appliance_id).join(
        Profile, Profile.id == Execution.profile_id).where(Execution.home_id == home_id,
                                                           Execution.state.in_(OPEN_STATES)).order_by(Execution.id))
    for execution, appliance, program in rows:
        plans.setdefault(appliance, []).append({
            "execution_id": execution.id, "program": program, "state": execution.state,
            "priority": execution.priority, "planned_start": _iso(execution.planned_start),
            "planned_end": _iso(execution.planned_end), "late_s": execution.late_s, "note": execution.note,
            "stretches": stretches.get(execution.id, [])})
    return plans


def _status(row, plan: list[dict]) -> str:
    if row.should_run:
        return "running"
    states = {run["state"] for run in plan}
    return next((s for s in ("paused", "pending") if s in states), "off")


def _first(plan: list[dict], key: str):
    """The key of the run that matters most now: a running or paused one, else the first planned."""
    ordered = sorted(plan, key=lambda run: (run["state"] == "pending", run["planned_start"] or "~"))
    return ordered[0][key] if ordered else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
