"""The shell's database side of a tick, writing: a plan back to rows, and old history pruned.

Core statements on the models' tables, as in `shell.store`. The writer decides nothing: it writes
the values the plan returned (`Transition`s column for column, priorities, placements, decisions).
"""

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlmodel import Session

from reconcile.planner.domain import DECISION_TTL_S, Plan, Transition
from reconcile.shell.store import DECISION, EXECUTION, HOME, TICK, TIMETABLE


def start_tick(session: Session, *, home_id: int, now: datetime, ran_at: datetime) -> int:
    """The tick's row, inserted first so that its decisions and timetable can name it."""
    row = {"home_id": home_id, "now": now, "ran_at": ran_at, "duration_ms": 0.0, "problems": []}
    return session.execute(insert(TICK).values(row)).inserted_primary_key[0]


def apply(*, session: Session, home_id: int, tick_id: int, plan: Plan) -> None:
    """Write `plan` back: state changes, priorities, decisions, timetable, tick counts."""
    now = plan.now
    changes: dict[int, dict] = {rid: {"id": rid, "priority": p} for rid, p in plan.priorities}
    for change in plan.transitions:
        changes.setdefault(change.execution_id, {"id": change.execution_id}).update(transition_columns(change))
    _write_plan_columns(changes, plan)
    _update_by_id(session, EXECUTION, changes.values())
    write_decisions(session, home_id=home_id, tick_id=tick_id, now=now, decisions=plan.decisions)
    _write_timetable(session, home_id, tick_id, plan)
    session.execute(update(TICK).where(TICK.c.id == tick_id).values(
        finished=len(plan.finished), decisions=len(plan.decisions), planned=len(plan.placements),
        unplaced=len(plan.unplaced), problems=list(plan.problems)))


def write_decisions(session: Session, *, home_id: int, tick_id: int, now: datetime, decisions) -> None:
    """The decision rows made at `now`, each valid for DECISION_TTL_S (the tick's, and the guard's pause)."""
    _insert(session, DECISION, [
        {"home_id": home_id, "tick_id": tick_id, "execution_id": d.execution_id, "kind": d.kind, "at": now,
         "valid_until": now + timedelta(seconds=DECISION_TTL_S), "reason": d.reason, "power_w": d.power_w}
        for d in decisions])


def mark_ticked(session: Session, home_id: int, ran_at: datetime) -> None:
    """The home's `ticked_at`: the wall clock of its newest tick, the order workers claim homes in."""
    session.execute(update(HOME).where(HOME.c.id == home_id).values(ticked_at=ran_at))


def finish_tick(session: Session, tick_id: int, duration_ms: float) -> None:
    session.execute(update(TICK).where(TICK.c.id == tick_id).values(duration_ms=duration_ms))


def _insert(session: Session, table, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(table), rows)


def _update_by_id(session: Session, table, rows) -> None:
    """UPDATE … WHERE id = :id for each row, one executemany per set of columns written."""
    by_columns: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        by_columns.setdefault(tuple(sorted(row)), []).append(row)
    for columns, group in by_columns.items():
        values = {c: bindparam(f"new_{c}") for c in columns if c != "id"}
        statement = update(table).where(table.c.id == bindparam("row_id")).values(values)
        session.execute(statement, [{"row_id": r["id"], **{f"new_{c}": r[c] for c in values}} for r in group])


def transition_columns(change: Transition) -> dict:
    """The execution columns a state change sets; an ended run has no plan any more."""
    columns = {"state": change.state, "state_since": change.state_since, "progress_s": change.progress_s}
    if change.started_at is not None:
        columns["started_at"] = change.started_at
    if change.power_w is not None:  # a modulating run's setpoint
        columns["power_w"] = change.power_w
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
    session.execute(delete(TIMETABLE).where(TIMETABLE.c.home_id == home_id))
    _insert(session, TIMETABLE, [
        {"home_id": home_id, "tick_id": tick_id, "execution_id": p.execution_id, "seq": seq, "starts_at": s.start,
         "ends_at": s.end, "offset_s": round(s.offset_s, 3), "energy_wh": s.energy_wh, "peak_w": s.peak_w}
        for p in plan.placements for seq, s in enumerate(p.segments)])


PRUNE_BATCH = 1000  # old ticks looked at per tick: a year-old backlog is cleared a batch a minute


def prune(session: Session, home_id: int, before: datetime) -> int:
    """Delete ticks and decisions from before `before`; returns the rows deleted.

    Executions are history and stay. Each execution's newest decision stays (`state`, `decisions
    --pending` and the tick's own `last_command` read it), and so do the ticks that made them and
    the newest tick (the clock rules compare with it): a pruned database answers as before.
    """
    old = list(session.execute(
        select(TICK.c.id).where(TICK.c.home_id == home_id, TICK.c.now < before)
        .order_by(TICK.c.id).limit(PRUNE_BATCH)).scalars())
    if not old:
        return 0
    newer = DECISION.alias("newer")
    superseded = select(newer.c.id).where(newer.c.execution_id == DECISION.c.execution_id,
                                          newer.c.id > DECISION.c.id).exists()
    decisions = session.execute(delete(DECISION).where(DECISION.c.tick_id.in_(old), superseded)).rowcount
    newest = select(func.max(TICK.c.id)).where(TICK.c.home_id == home_id).scalar_subquery()
    ticks = session.execute(delete(TICK).where(
        TICK.c.id.in_(old), TICK.c.id != newest,
        ~select(DECISION.c.id).where(DECISION.c.tick_id == TICK.c.id).exists(),
        ~select(TIMETABLE.c.id).where(TIMETABLE.c.tick_id == TICK.c.id).exists())).rowcount
    return decisions + ticks
