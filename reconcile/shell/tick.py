"""`run_tick`: load → plan(snapshot, now) → apply, the write in one transaction.

The write lock is held only to write. On SQLite the tick loads and plans in a plain read transaction
(which never waits and blocks no one), then takes the lock (`BEGIN IMMEDIATE`) and writes only if no
other connection committed anything since its read (`PRAGMA data_version` is unchanged); else it
plans again from the new state. On a retry it also writes when only new runs were requested
meanwhile (`store.change_marks` is unchanged: they are planned by the next tick); else it plans
under the lock. So what is written is always the plan of the state it is written over, as with one
transaction, but for runs requested while it planned, which it leaves pending and unplanned. A crash
anywhere rolls the write back; two ticks at once serialise on BEGIN IMMEDIATE, and the second
re-plans from the first one's result.

The read also runs `PRAGMA quick_check`: a tick never writes into a damaged file. With `keep_s`,
ticks and decisions older than that are pruned in the same write (`writer.prune`).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from reconcile.errors import ReconcileError
from reconcile.planner.domain import Plan
from reconcile.planner.plan import plan as make_plan
from reconcile.planner.timetable import build_timetable
from reconcile.shell.catalog import check_home
from reconcile.shell.db import require_head, transaction_on, translate_errors
from reconcile.shell.dbfile import check_integrity
from reconcile.shell.store import change_marks, home_row, load_snapshot, newest_run_id
from reconcile.shell.writer import apply, finish_tick, mark_ticked, prune, start_tick

BeforePlan = Callable[[object, object, datetime], None]  # (session, home row, now): writes before the plan
OPTIMISTIC_TRIES = 3  # plans made outside the lock before one is made under it
DEFAULT_KEEP_S = 90 * 86400  # `wattplan tick --keep`: ticks and decisions older than this are pruned


@dataclass(frozen=True, slots=True)
class TickReport:
    tick_id: int
    now: datetime
    plan: Plan
    duration_ms: float
    clock_behind_s: float  # > 0: the given now was before the last tick's; planned at that up to an hour behind
    lock_ms: float = 0.0  # how long the tick held the write lock
    replans: int = 0  # plans discarded because another connection wrote meanwhile
    pruned: int = 0  # old ticks and decisions removed
    home: str = ""  # the home's name

    def summary(self) -> str:
        """One line for the journal."""
        p = self.plan
        kinds = {}
        for d in p.decisions:
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        said = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no decisions"
        extra = f"; {len(p.problems)} skipped" if p.problems else ""
        extra += f"; clock {self.clock_behind_s:.0f}s behind last tick" if self.clock_behind_s > 0 else ""
        extra += ": it was a jump, planned at now" if p.clock_returned else ""
        return (f"tick {self.tick_id} at {self.now.isoformat(timespec='seconds')}: {said}; "
                f"{len(p.finished)} finished, {len(p.placements)} planned, {len(p.unplaced)} unplaced"
                f"{extra} ({self.duration_ms:.0f} ms)")


def run_tick(*, engine: Engine, now: datetime, ran_at: datetime | None = None, keep_s: int | None = None,
             home: str | None = None, before_plan: BeforePlan | None = None) -> TickReport:
    """Reconcile `home` (None: the only one) at `now`; `ran_at` is the wall clock (defaults to `now`);
    with `keep_s`, ticks and decisions older than `keep_s` before `now` are pruned. `before_plan`
    (an adapter's inbox: MQTT commands) writes in the tick's transaction before the plan is made,
    which is then made under the write lock."""
    require_head(engine)
    return translate_errors(_tick, engine, now, ran_at or now, keep_s, home, before_plan)


def _tick_locked(session, home, *, now: datetime, ran_at: datetime, keep_s: int | None,
                 before_plan: BeforePlan | None, started: float) -> TickReport:
    """The tick of `home` (its row, locked) inside `session`'s write transaction: the inbox's
    writes, then plan and write."""
    locked = time.perf_counter()
    if before_plan is not None:
        before_plan(session, home, now)
    home, plan = _plan(session, now, home)
    return _write(session, home, plan, ran_at, keep_s, started, locked, 0)


def _tick(engine: Engine, now: datetime, ran_at: datetime, keep_s: int | None, chosen: str | None,
          before_plan: BeforePlan | None) -> TickReport:
    started = time.perf_counter()
    sqlite = engine.dialect.name == "sqlite"
    replans = 0
    with engine.connect() as connection:  # one connection: data_version counts others' commits on it
        for attempt in range(OPTIMISTIC_TRIES if sqlite and before_plan is None else 0):
            with transaction_on(connection, write=False, home=chosen) as session:
                home, plan = _plan(session, now)
                seen = _data_version(session)
                if attempt > 0:  # only a retry compares marks: the first try needs no more statements
                    runs_up_to = newest_run_id(session, home.id)
                    marks = change_marks(session, home.id, runs_up_to)
                check_integrity(connection.connection.driver_connection, _path(engine))
            with transaction_on(connection, write=True, home=chosen) as session:
                locked = time.perf_counter()
                home_row(session)  # a read first: data_version is this snapshot's from here on
                if _data_version(session) == seen or (  # a retry lets new requests wait for the next tick
                        attempt > 0 and change_marks(session, home.id, runs_up_to) == marks):
                    return _write(session, home, plan, ran_at, keep_s, started, locked, replans)
            replans += 1
        with transaction_on(connection, write=True, home=chosen) as session:  # PostgreSQL: the home row locked
            if sqlite:  # the state kept changing, or an inbox writes first
                check_integrity(connection.connection.driver_connection, _path(engine))
            report = _tick_locked(session, home_row(session), now=now, ran_at=ran_at, keep_s=keep_s,
                                  before_plan=before_plan, started=started)
            return replace(report, replans=replans)


def _plan(session, now: datetime, home=None):
    home = home_row(session) if home is None else home
    try:  # a setting saved before the bounds existed is one line, not a MemoryError every tick
        check_home(home)
    except ReconcileError as error:
        raise ReconcileError(f"the home's settings cannot be planned: {error}; change them with `wattplan init`"
                             ) from None
    snapshot = load_snapshot(session=session, home=home, now=now, for_planning=True)
    return home, make_plan(snapshot, now, timetable=timetable_for(snapshot.home.planner))


def _write(session, home, plan: Plan, ran_at, keep_s, started, locked, replans) -> TickReport:
    tick_id = start_tick(session, home_id=home.id, now=plan.now, ran_at=ran_at)
    mark_ticked(session, home.id, ran_at)
    apply(session=session, home_id=home.id, tick_id=tick_id, plan=plan)
    pruned = prune(session, home.id, plan.now - timedelta(seconds=keep_s)) if keep_s else 0
    duration = round((time.perf_counter() - started) * 1000, 3)
    finish_tick(session, tick_id, duration)
    lock_ms = round((time.perf_counter() - locked) * 1000, 3)
    return TickReport(tick_id, plan.now, plan, duration, plan.clock_behind_s, lock_ms, replans, pruned, home.name)


def _data_version(session) -> int:
    """SQLite's count of commits by other connections, as seen by this transaction."""
    return session.execute(text("PRAGMA data_version")).scalar()


def _path(engine: Engine) -> Path:
    return Path(engine.url.database or "?")


def timetable_for(planner: str):
    """The timetable builder of a home's planner; the exact one imports HiGHS only when used."""
    if planner == "optimal":
        from reconcile.shell.optimal import timetable_optimal

        return timetable_optimal
    return build_timetable
