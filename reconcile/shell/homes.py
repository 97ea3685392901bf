"""Many homes in one database: listing them, ticking each once, and workers that share them.

A worker claims the home ticked longest ago whose newest tick is older than its period: in one
short transaction it sets that home's `ticked_at` to now, then it ticks the home exactly as
`wattplan tick --home NAME` does (MQTT included). On PostgreSQL the claim is `SELECT … FOR UPDATE
SKIP LOCKED`: two workers never claim the same home, and a claimed home is not due again for a
period, so no home is ticked twice in a period; ordering by `ticked_at` means the most overdue
home is always next, so none is skipped while the workers keep up. The tick itself locks the
home's row like every write, so even a tick that outlasts its period never overlaps the next. On
SQLite the claim runs inside `BEGIN IMMEDIATE`: one writer at a time, as always. A worker killed
mid-tick loses that tick (rolled back); the home is ticked again a period after its claim.
"""

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, or_, select, update
from sqlmodel import Session

from reconcile.errors import ReconcileError
from reconcile.planner.domain import OPEN_STATES
from reconcile.shell.db import transaction, transaction_on, translate_errors
from reconcile.shell.store import EXECUTION, HOME

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class HomeListView:
    name: str
    limit_w: float
    timezone: str
    objective: str
    planner: str
    open_runs: int
    ticked_at: datetime | None  # the wall clock of its newest tick


@dataclasses.dataclass(frozen=True, slots=True)
class Claimed:
    """What one claim did: the home ticked and its journal line, or its one-line error."""

    home: str
    line: str | None = None
    error: ReconcileError | None = None


def list_homes(session: Session) -> list[HomeListView]:
    runs = (select(EXECUTION.c.home_id, func.count().label("open"))
            .where(EXECUTION.c.state.in_(OPEN_STATES)).group_by(EXECUTION.c.home_id).subquery())
    query = (select(HOME, func.coalesce(runs.c.open, 0).label("open_runs"))
             .outerjoin(runs, runs.c.home_id == HOME.c.id).order_by(HOME.c.name))
    return [HomeListView(r.name, r.limit_w, r.timezone, r.objective, r.planner, r.open_runs, r.ticked_at)
            for r in session.execute(query)]


def home_names(engine: Engine) -> list[str]:
    with transaction(engine, write=False) as session:
        return list(session.execute(select(HOME.c.name).order_by(HOME.c.name)).scalars())


def claim(engine: Engine, *, now: datetime, period_s: float) -> str | None:
    """Claim the most overdue home (its newest tick at or before `now` - `period_s`): its
    `ticked_at` becomes `now`, committed. Its name, or None if no home is due."""
    return translate_errors(_claim, engine, now, period_s)


def _claim(engine: Engine, now: datetime, period_s: float) -> str | None:
    with engine.connect() as connection, transaction_on(connection, write=True) as session:
        home = session.execute(_due(now - timedelta(seconds=period_s), connection.dialect.name)).first()
        if home is None:
            return None
        session.execute(update(HOME).where(HOME.c.id == home.id).values(ticked_at=now))
        return home.name


def _due(before: datetime, dialect: str):
    """The most overdue home's row, locked; on PostgreSQL skipping homes other workers hold."""
    query = (select(HOME).where(or_(HOME.c.ticked_at.is_(None), HOME.c.ticked_at <= before))
             .order_by(HOME.c.ticked_at.asc().nulls_first(), HOME.c.id).limit(1))
    return query.with_for_update(skip_locked=True) if dialect == "postgresql" else query


def next_due(engine: Engine, period_s: float) -> datetime | None:
    """When the next home falls due (its newest tick + `period_s`; EPOCH if one was never ticked),
    None without homes."""
    with transaction(engine, write=False) as session:
        oldest = session.execute(select(HOME.c.ticked_at).order_by(HOME.c.ticked_at.asc().nulls_first(), HOME.c.id)
                                 .limit(1)).first()
    if oldest is None:
        return None
    return EPOCH if oldest.ticked_at is None else oldest.ticked_at + timedelta(seconds=period_s)


def work(engine: Engine, *, period_s: float, clock: Callable[[], datetime], sleep: Callable[[float], None],
         running: Callable[[], bool], tick_home: Callable[[str, datetime], str],
         report: Callable[[Claimed], None], poll_s: float = 1.0) -> int:
    """Claim and tick due homes until `running()` turns false; returns the number of home-ticks.
    `tick_home(name, now)` ticks one home and returns its journal line. When no home is due, sleep
    until the next falls due, at most `poll_s` (homes may be added meanwhile)."""
    done = 0
    while running():
        now = clock()
        name = claim(engine, now=now, period_s=period_s)
        if name is not None:
            done += 1
            try:
                report(Claimed(name, tick_home(name, now)))
            except ReconcileError as error:
                report(Claimed(name, error=error))
            continue
        due = next_due(engine, period_s)
        wait = poll_s if due is None else (due - clock()).total_seconds()
        sleep(min(max(wait, 0.05), poll_s))
    return done
