"""The database file, end to end with the real `wattplan` console script in a separate process.

wattplan writes only into a missing or empty file or its own database: never into another program's
SQLite file, never into a damaged one; every advice it prints works when followed; a read-only
`status` leaves no `-wal`/`-shm` files behind; the tick prunes old ticks and decisions.
"""

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from reconcile.errors import ExitStatus
from reconcile.shell.db import make_engine
from reconcile.shell.tick import run_tick
from tests.fault_cases import T, assert_one_line, assert_recovers, at, digest, household, snapshot, wattplan
from tests.test_faults import without_write_permission
from tests.workers import check_database, query

INIT = ("init", "--limit", "6.9kW", "--timezone", "Europe/Lisbon")


@pytest.fixture
def db(tmp_path) -> Path:
    """test_faults' household: a washer running, a heater waiting, one tick."""
    (tmp_path / "state").mkdir()
    return household(tmp_path / "state" / "wattplan.db")


def siblings(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name + "-"))


def another_programs_database(path: Path) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        connection.execute("INSERT INTO notes (text) VALUES ('keep me')")
    connection.close()
    return path


def test_init_and_db_upgrade_refuse_another_programs_database(tmp_path):
    other = another_programs_database(tmp_path / "notes.db")
    before = digest(other)
    for args in (INIT, ("db", "upgrade"), ("status",), ("tick",), ("appliance", "add", "washer")):
        result = wattplan(other, *args)
        assert_one_line(result, ExitStatus.ERROR, f"{other} is not a wattplan database (it holds other "
                                                  "tables: notes); nothing was changed")
    assert digest(other) == before  # no tables, no WAL switch, not a byte
    assert siblings(other) == []
    assert query(other, "PRAGMA journal_mode") == [("delete",)]


def test_an_unknown_revision_is_refused_with_advice_that_works_and_no_traceback(db):
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0999'")
    connection.close()
    before = digest(db)
    for args in (("status",), ("tick",), ("db", "upgrade"), INIT):
        assert_one_line(wattplan(db, *args), ExitStatus.NOT_MIGRATED,
                        "the database is at revision 0999, which this wattplan does not know")
        assert "db upgrade" not in wattplan(db, *args).stderr  # the advice that could not work
    assert digest(db) == before


def test_a_database_truncated_to_zero_bytes_is_not_made_a_new_one_by_the_advice(db):
    db.write_bytes(b"")
    for args in (("status",), ("tick",), ("enqueue", "washer")):
        assert_one_line(wattplan(db, *args), ExitStatus.NOT_MIGRATED,
                        f"{db} is an empty file (0 bytes), not a database: if it held wattplan's data, "
                        "restore it from a backup")
    assert db.stat().st_size == 0
    assert wattplan(db, *INIT).returncode == 0  # the advice's second half, followed, works


def damage_a_tick_page(db: Path) -> None:
    """Overwrite the header of the first leaf page of the tick table's index on `now`: the oldest
    ticks, which no tick reads (a tick reads the newest tick by home, and appends on the right)."""
    with sqlite3.connect(db) as connection:
        leaves = [page for (page,) in connection.execute(
            "SELECT pageno FROM dbstat WHERE name = 'ix_tick_now' AND pagetype = 'leaf' ORDER BY path")]
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    assert len(leaves) >= 3, leaves
    with open(db, "r+b") as file:
        file.seek((leaves[0] - 1) * page_size)
        file.write(b"\xff" * 64)


def test_a_database_with_a_damaged_tick_table_is_never_written_into(db):
    engine = make_engine(f"sqlite:///{db}")
    for minute in range(1, 400):  # enough ticks for the tick table's index to span several pages
        run_tick(engine=engine, now=T + timedelta(minutes=minute))
    engine.dispose()
    assert not db.with_name(db.name + "-wal").exists()
    damage_a_tick_page(db)
    before = digest(db)
    for args in (("tick", "--now", at(T + timedelta(minutes=400))), ("db", "upgrade"), INIT):
        assert_one_line(wattplan(db, *args), ExitStatus.ERROR, f"the database {db} is damaged (")
        assert digest(db) == before


def test_status_on_a_read_only_database_leaves_no_wal_or_shm_behind(db):
    before = snapshot(db)
    checkpoint = sqlite3.connect(db)  # the last connection, read-write: it removes -wal and -shm
    checkpoint.execute("SELECT count(*) FROM home").fetchone()
    checkpoint.close()
    assert siblings(db) == []
    with without_write_permission(db) as (seen, wrapper):
        result = wattplan(seen, "status", wrapper=wrapper)
        assert (result.returncode, result.stderr) == (0, "")
        assert siblings(db) == []  # none with mode 0444 to keep the database unwritable later
    assert_recovers(db, before, T + timedelta(minutes=1))


def test_the_tick_prunes_old_ticks_and_decisions_but_keeps_runs_and_their_newest_decision(db):
    for day in range(1, 5):  # the washer finishes and the heater runs on day 0; a new run each day
        now = T + timedelta(days=day)
        assert wattplan(db, "enqueue", "washer", "--now", at(now)).returncode == 0
        result = wattplan(db, "tick", "--now", at(now), "--keep", "2d")
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
    newest = T + timedelta(days=4)
    cutoff = (newest - timedelta(days=2)).replace(tzinfo=None).isoformat(sep=" ")
    kept_ticks = query(db, "SELECT id FROM tick WHERE now < ?", (cutoff,))
    referenced = query(db, "SELECT DISTINCT tick_id FROM decision WHERE at < ?", (cutoff,))
    assert sorted(kept_ticks) == sorted(referenced)  # an old tick stays only for a decision it made
    superseded_old = query(db, """SELECT d.id FROM decision d WHERE d.at < ? AND EXISTS
        (SELECT 1 FROM decision n WHERE n.execution_id = d.execution_id AND n.id > d.id)""", (cutoff,))
    assert superseded_old == []
    assert query(db, "SELECT count(*) FROM execution") == [(6,)]  # executions are history: all stay
    state = wattplan(db, "state", "--now", at(newest))
    assert state.returncode == 0, state.stderr
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "PRAGMA foreign_key_check") == []


def test_keep_under_a_day_is_refused_and_zero_keeps_everything(db):
    assert_one_line(wattplan(db, "tick", "--keep", "1h"), ExitStatus.ERROR, "--keep 1h is under a day")
    far = T + timedelta(days=400)
    ticks = query(db, "SELECT count(*) FROM tick")[0][0]
    assert wattplan(db, "tick", "--now", at(far), "--keep", "0").returncode == 0
    assert query(db, "SELECT count(*) FROM tick")[0][0] == ticks + 1
    check_database(db)
