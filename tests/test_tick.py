"""The whole tick on real SQLite files: load → plan → apply in one transaction. Nothing is mocked.

The home (tests/conftest.py) has a 4.6 kW limit and a 300 W reserve: 4.3 kW for the runs.
"""

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from models import Decision, Execution, Tick, TimetableEntry
from reconcile.errors import NotMigratedError, ReconcileError
from reconcile.planner.domain import DECISION_TTL_S
from reconcile.shell import catalog, requests
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.migrate import downgrade
from reconcile.shell.tick import run_tick
from tests.conftest import T0

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)

APPLIANCES = {  # name: (interruptible, min run s, class, program watts per minute)
    "washer": (False, 0, 5, [2000] * 30),
    "dishwasher": (False, 0, 5, [1500] * 90),
    "dryer": (False, 0, 5, [2500] * 60),
    "ev": (True, 600, 3, [3000] * 120),
}


def add_appliances(engine, *names: str) -> None:
    with transaction(engine) as session:
        for name in names:
            interruptible, min_run, klass, watts = APPLIANCES[name]
            catalog.add_appliance(session, now=T0, name=name, interruptible=interruptible, min_run_s=min_run,
                                  min_pause_s=min_run, priority_class=klass)
            catalog.add_profile(session, now=T0, appliance=name, name="std", slot_s=60, watts=watts)


def enqueue(engine, *names: str, at=T0, within=8 * HOUR) -> list[int]:
    """Request a run of each appliance named, in order; returns the execution ids."""
    with transaction(engine) as session:
        return [requests.enqueue(session, now=at, request=requests.Request(
            name, within_s=int(within.total_seconds()))).id for name in names]


def executions(engine) -> dict[int, Execution]:
    with transaction(engine) as session:
        return {e.id: e for e in session.execute(select(Execution)).scalars()}


def timetable(engine) -> list[tuple]:
    """The timetable as written, without the tick that wrote it."""
    with transaction(engine) as session:
        rows = session.execute(select(TimetableEntry).order_by(TimetableEntry.execution_id, TimetableEntry.seq))
        return [(t.execution_id, t.seq, t.starts_at, t.ends_at, t.offset_s, t.energy_wh, t.peak_w)
                for t in rows.scalars()]


def decided(report) -> set[tuple[int, str]]:
    return {(d.execution_id, d.kind) for d in report.plan.decisions}


@pytest.fixture
def busy(home_engine):
    """A washer and a dishwasher start at T0 (3.5 kW); the dryer (2.5 kW) must wait for the washer."""
    add_appliances(home_engine, "washer", "dishwasher", "dryer", "ev")
    enqueue(home_engine, "washer", "dishwasher", "dryer")
    return home_engine


def test_first_tick_starts_what_fits_and_records_its_decisions(busy) -> None:
    report = run_tick(engine=busy, now=T0)
    assert decided(report) == {(1, "start"), (2, "start")}
    rows = executions(busy)
    assert [rows[i].state for i in (1, 2, 3)] == ["running", "running", "pending"]
    assert rows[3].planned_start == T0 + 30 * MIN
    with transaction(busy) as session:
        stored = session.execute(select(Decision).order_by(Decision.id)).scalars().all()
        assert [(d.execution_id, d.kind, d.at, d.valid_until) for d in stored] == [
            (1, "start", T0, T0 + timedelta(seconds=DECISION_TTL_S)),
            (2, "start", T0, T0 + timedelta(seconds=DECISION_TTL_S))]
        assert DECISION_TTL_S == 120


def test_second_tick_at_the_same_now_is_a_no_op(busy) -> None:
    run_tick(engine=busy, now=T0)
    first = timetable(busy)
    again = run_tick(engine=busy, now=T0)
    assert again.plan.decisions == () and again.plan.finished == ()
    assert timetable(busy) == first
    with transaction(busy) as session:
        assert session.execute(select(Decision).where(Decision.tick_id == again.tick_id)).first() is None


def copy_of(engine, source_path, target_path):
    engine.dispose()
    with sqlite3.connect(source_path) as source, sqlite3.connect(target_path) as target:
        source.backup(target)
    return make_engine(f"sqlite:///{target_path}")


def raw_rows(path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(query).fetchall()


def test_same_database_and_now_give_a_byte_identical_timetable(busy, db_path, tmp_path) -> None:
    run_tick(engine=busy, now=T0)
    enqueue(busy, "ev", at=T0 + 2 * MIN)
    paths = [tmp_path / "a.db", tmp_path / "b.db"]
    for path in paths:
        copy = copy_of(busy, db_path, path)
        run_tick(engine=copy, now=T0 + 3 * MIN + timedelta(microseconds=123_456))
        copy.dispose()
    queries = ["SELECT * FROM timetableentry ORDER BY id",
               "SELECT id, state, state_since, progress_s, priority, planned_start, planned_end, late_s, note "
               "FROM execution ORDER BY id",
               "SELECT * FROM decision ORDER BY id"]
    for query in queries:
        a, b = (raw_rows(path, query) for path in paths)
        assert a and repr(a) == repr(b), query


def test_tick_after_five_hours_of_downtime_finishes_at_their_end_the_runs_over_inside_their_cover(busy) -> None:
    """Level-triggered after downtime, counting only what a valid decision covered: the ticks stop
    after T0 + 29 min, so the runs were vouched for until T0 + 31 min (then `state` read stale and
    the appliances were switched off). The washer (30 min) was over by then: it finished at its
    end, not at the tick's now. The dishwasher (90 min) had run 31 min: it resumes from there."""
    for minute in range(30):
        run_tick(engine=busy, now=T0 + minute * MIN)
    report = run_tick(engine=busy, now=T0 + 5 * HOUR)
    assert {(f.execution_id, f.ended_at) for f in report.plan.finished} == {(1, T0 + 30 * MIN)}
    assert decided(report) == {(1, "stop"), (2, "resume"), (3, "start")}
    rows = executions(busy)
    assert (rows[1].state, rows[1].end_reason, rows[1].ended_at, rows[1].progress_s) == (
        "finished", "completed", T0 + 30 * MIN, 1800)
    assert (rows[2].state, rows[2].state_since, rows[2].progress_s) == ("running", T0 + 5 * HOUR, 31 * 60)
    assert (rows[3].state, rows[3].started_at) == ("running", T0 + 5 * HOUR)
    assert run_tick(engine=busy, now=T0 + 5 * HOUR).plan.decisions == ()


def test_a_run_stale_from_two_minutes_after_its_start_is_not_completed_by_the_books(busy) -> None:
    """Issue 10: told to run at T0 and stale from T0 + 2 min (the timer died for two hours), the
    washer was recorded at the next tick as completed with its whole program done."""
    run_tick(engine=busy, now=T0)
    report = run_tick(engine=busy, now=T0 + 2 * HOUR)
    assert (report.plan.finished, decided(report)) == ((), {(1, "resume"), (2, "resume")})
    rows = executions(busy)
    assert [(rows[i].state, rows[i].progress_s, rows[i].ended_at) for i in (1, 2)] == [
        ("running", 120.0, None), ("running", 120.0, None)]
    ends = {}
    for minute in range(1, 30):
        report = run_tick(engine=busy, now=T0 + 2 * HOUR + minute * MIN)
        ends |= {f.execution_id: f.ended_at for f in report.plan.finished}
    assert ends == {1: T0 + 2 * HOUR + 28 * MIN}  # 2 min covered before, 28 after: 30 min in all
    assert executions(busy)[1].progress_s == 1800


def test_clock_stepped_back_plans_at_the_last_ticks_now(busy) -> None:
    run_tick(engine=busy, now=T0 + 10 * MIN)
    report = run_tick(engine=busy, now=T0)
    assert report.now == T0 + 10 * MIN and report.clock_behind_s == 600
    assert report.plan.decisions == ()


def test_a_now_whose_horizon_runs_past_the_calendar_is_refused_and_writes_nothing(busy) -> None:
    """Issue 10: `--now 9999-12-31T23:00` with a run open ended in a traceback (year 10000)."""
    run_tick(engine=busy, now=T0)
    with pytest.raises(ReconcileError, match="the 86400s planning horizon would run past the end of the calendar"):
        run_tick(engine=busy, now=datetime(9999, 12, 31, 23, 0, tzinfo=UTC))
    with transaction(busy) as session:
        assert session.execute(select(func.count()).select_from(Tick)).scalar() == 1


@pytest.mark.parametrize("breakage", ["profile is not json", "profile row missing"])
def test_malformed_row_is_reported_and_skipped_while_others_are_scheduled(busy, db_path, breakage) -> None:
    busy.dispose()
    with sqlite3.connect(db_path) as connection:  # foreign keys are off on a plain connection
        profile_id = connection.execute("SELECT profile_id FROM execution WHERE id = 1").fetchone()[0]
        if breakage == "profile is not json":
            connection.execute("UPDATE profile SET watts = 'not json' WHERE id = ?", (profile_id,))
        else:
            connection.execute("DELETE FROM profile WHERE id = ?", (profile_id,))
    report = run_tick(engine=busy, now=T0)
    (problem,) = report.plan.problems
    assert problem.startswith("execution #1 skipped: ")
    assert decided(report) == {(2, "start"), (3, "start")}  # the washer's power goes to the dryer
    with transaction(busy) as session:
        assert session.get(Tick, report.tick_id).problems == [problem]
    assert executions(busy)[1].state == "pending"
    assert "1 skipped" in report.summary()


@pytest.mark.parametrize("reason", ["cancelled", "done"])
def test_ending_a_running_run_stops_it_and_frees_its_power(busy, reason) -> None:
    for minute in range(5):  # a tick a minute: the runs stay covered (a gap would resume them)
        run_tick(engine=busy, now=T0 + minute * MIN)
    with transaction(busy) as session:
        requests.end(session, now=T0 + 5 * MIN, execution_id=1, reason=reason)
    report = run_tick(engine=busy, now=T0 + 5 * MIN)
    assert decided(report) == {(1, "stop"), (3, "start")}
    stop = next(d for d in report.plan.decisions if d.kind == "stop")
    assert stop.reason == ("cancelled by the user" if reason == "cancelled" else "reported done")
    washer = executions(busy)[1]
    assert (washer.ended_at, washer.progress_s) == (T0 + 5 * MIN, 300)
    assert run_tick(engine=busy, now=T0 + 6 * MIN).plan.decisions == ()


def test_cancelling_a_pending_run_needs_no_stop(busy) -> None:
    run_tick(engine=busy, now=T0)
    with transaction(busy) as session:
        requests.end(session, now=T0 + MIN, execution_id=3, reason="cancelled")
    report = run_tick(engine=busy, now=T0 + MIN)
    assert report.plan.decisions == ()
    assert 3 not in {p.execution_id for p in report.plan.placements}


def test_timetable_rows_grow_with_stretches_not_slots(home_engine) -> None:
    """A 24 h horizon of 1-minute slots: one row per stretch of each run, not one per slot."""
    add_appliances(home_engine, "washer", "dishwasher", "dryer", "ev")
    enqueue(home_engine, "washer", "dishwasher", "dryer", "ev", "washer", "dryer")
    report = run_tick(engine=home_engine, now=T0)
    stretches = sum(len(p.segments) for p in report.plan.placements)
    rows = raw_rows(home_engine.url.database, "SELECT COUNT(*) FROM timetableentry")[0][0]
    assert len(report.plan.placements) == 6
    assert rows == stretches <= 2 * 6
    assert raw_rows(home_engine.url.database, "SELECT slot_s, horizon_s FROM home") == [(60, 86400)]


def test_tick_refuses_an_empty_database(db_path) -> None:
    engine = make_engine(f"sqlite:///{db_path}")
    with pytest.raises(NotMigratedError, match="wattplan db upgrade"):
        run_tick(engine=engine, now=T0)


def test_tick_refuses_a_database_not_at_head(home_engine) -> None:
    downgrade(home_engine, "base")
    with home_engine.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version VALUES ('0000')"))  # emptied, not dropped
    with pytest.raises(NotMigratedError, match="revision 0000"):
        run_tick(engine=home_engine, now=T0)
