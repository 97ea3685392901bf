"""Many homes in one database: listing them, ticking each once, and workers that share them.

A worker claims the home ticked longest ago whose newest tick is older than its period, ticks it
and records `home.ticked_at`, all in one transaction. On PostgreSQL the claim is
`SELECT … FOR UPDATE SKIP LOCKED`: a home being ticked is invisible to the other workers, so no
home is ticked twice at once, and ordering by `ticked_at` means the most overdue home is always
next, so none is skipped while the workers keep up. On SQLite the claim runs inside `BEGIN
IMMEDIATE`: one writer at a time, as always. A home whose tick fails (settings that cannot be
planned) is marked ticked all the same, in its own transaction, so it waits a period instead of
being claimed again at once; its error is reported.
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
from reconcile.shell.tick import TickReport, tick_locked

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
    """What one claim did: the home ticked and its report, or its one-line error."""

    home: str
    report: TickReport | None = None
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


def claim_and_tick(engine: Engine, *, now: datetime, period_s: float, keep_s: int | None = None) -> Claimed | None:
    """Tick the most overdue home (newest tick at or before `now` - `period_s`), or None if no home
    is due. `now` is also the tick's wall clock."""
    return translate_errors(_claim_and_tick, engine, now, period_s, keep_s)


def _claim_and_tick(engine: Engine, now: datetime, period_s: float, keep_s: int | None) -> Claimed | None:
    with engine.connect() as connection:
        name = None
        try:
            with transaction_on(connection, write=True) as session:
                home = session.execute(_due(now - timedelta(seconds=period_s), connection.dialect.name)).first()
                if home is None:
                    return None
                name = session.info["home"] = home.name  # what the tick's own reads act on
                return Claimed(name, tick_locked(session, home, now=now, ran_at=now, keep_s=keep_s))
        except ReconcileError as error:
            if name is None:
                raise
            with transaction_on(connection, write=True) as session:  # wait a period before trying it again
                session.execute(update(HOME).where(HOME.c.name == name).values(ticked_at=now))
            return Claimed(name, error=error)


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
         running: Callable[[], bool], report: Callable[[Claimed], None], keep_s: int | None = None,
         poll_s: float = 1.0) -> int:
    """Tick due homes until `running()` turns false; returns the number of home-ticks done. When no
    home is due, sleep until the next falls due, at most `poll_s` (homes may be added meanwhile)."""
    done = 0
    while running():
        claimed = claim_and_tick(engine, now=clock(), period_s=period_s, keep_s=keep_s)
        if claimed is not None:
            done += 1
            report(claimed)
            continue
        due = next_due(engine, period_s)
        wait = poll_s if due is None else (due - clock()).total_seconds()
        sleep(min(max(wait, 0.05), poll_s))
    return done
