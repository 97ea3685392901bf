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

The claim and the tick are two transactions: the claim commits first (so another worker skips the
home at once), then the tick runs in its own. A worker survives any one home's failure: whatever
its tick raises (a `ReconcileError`, or a poison row's `RecursionError`) is that home's one-line
error, and the next home is claimed. It survives the database going away too: a claim that fails
(PostgreSQL restarted, the network down) is retried with backoff, `RETRY_FIRST_S` doubling up to
`RETRY_MAX_S`, one line per attempt, until the database answers again or the worker is stopped.
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
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0  # a worker's waits between failed claims: 1, 2, 4 … 30, 30 s


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
    return translate_errors(_next_due, engine, period_s)


def _next_due(engine: Engine, period_s: float) -> datetime | None:
    with transaction(engine, write=False) as session:
        oldest = session.execute(select(HOME.c.ticked_at).order_by(HOME.c.ticked_at.asc().nulls_first(), HOME.c.id)
                                 .limit(1)).first()
    if oldest is None:
        return None
    return EPOCH if oldest.ticked_at is None else oldest.ticked_at + timedelta(seconds=period_s)


def work(engine: Engine, *, period_s: float, clock: Callable[[], datetime], sleep: Callable[[float], None],
         running: Callable[[], bool], tick_home: Callable[[str, datetime], str],
         report: Callable[[Claimed], None], say: Callable[[str], None] = lambda _line: None,
         poll_s: float = 1.0) -> int:
    """Claim and tick due homes until `running()` turns false; returns the number of home-ticks.
    `tick_home(name, now)` ticks one home and returns its journal line; each claim's outcome goes to
    `report`, the worker's own news (the database lost and back) to `say`. When no home is due,
    sleep until the next falls due, at most `poll_s` (homes may be added meanwhile)."""
    done = failures = 0
    while running():
        now = clock()
        try:
            name = claim(engine, now=now, period_s=period_s)
            due = next_due(engine, period_s) if name is None else None
        except ReconcileError as error:  # nothing was claimed: the database is away, wait and retry
            failures += 1
            wait = retry_wait(failures)
            say(f"worker: cannot reach the database (attempt {failures}): {error}; retrying in {wait:.0f} s")
            _pause(wait, sleep, running)
            continue
        if failures:
            say(f"worker: the database answers again after {failures} failed attempts")
            failures = 0
        if name is not None:
            done += 1
            report(tick_contained(tick_home, name, now))
            continue
        wait = poll_s if due is None else (due - clock()).total_seconds()
        sleep(min(max(wait, 0.05), poll_s))
    return done


def retry_wait(failures: int) -> float:
    """Seconds to wait after the `failures`-th failed claim in a row: doubling, capped."""
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** min(failures - 1, 16))


def tick_contained(tick_home: Callable[[str, datetime], str], name: str, now: datetime) -> Claimed:
    """The tick of one claimed home as a value: its journal line, or whatever it raised as one line.

    Any exception is contained, not only `ReconcileError`: one home's poison (a row no check
    foresaw, a parser's `RecursionError`) must not stop the worker and every other home. Its tick
    rolled back; the home is claimed again a period later."""
    try:
        return Claimed(name, tick_home(name, now))
    except ReconcileError as error:
        return Claimed(name, error=error)
    except Exception as error:  # noqa: BLE001 -- the point: contain one home's failure, say what it was
        why = (str(error).splitlines() or [""])[0][:200]
        return Claimed(name, error=ReconcileError(
            f"the tick failed ({type(error).__name__}{': ' + why if why else ''}); nothing of it was written, "
            "the other homes are ticked and this one is tried again next period"))


def _pause(seconds: float, sleep: Callable[[float], None], running: Callable[[], bool]) -> None:
    """Sleep `seconds` in steps of at most one, so a stop request is seen within a second."""
    left = seconds
    while left > 0 and running():
        step = min(1.0, left)
        sleep(step)
        left -= step
