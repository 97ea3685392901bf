"""The database under faults, from outside: the real console script on real SQLite files (issue 19, item 5).

Every command that writes checks the file first through one door (`db.open_database(write=True)`:
`PRAGMA quick_check`, a writable file, `-wal`/`-shm` with the database's mode); a reader changes not
a byte; `done`/`cancel` never end a run before it started; an energy is bounded like a power.

`WATTPLAN_UNDER_TEST` names another console script to run instead (an old checkout's, to see these
tests fail there).
"""

import os
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from reconcile.errors import ExitStatus
from reconcile.shell.db import make_engine
from reconcile.shell.tick import run_tick
from tests import fault_cases
from tests.fault_cases import T, assert_one_line, at, digest, household
from tests.test_database_files import damage_a_tick_page, siblings
from tests.test_faults import without_write_permission
from tests.workers import check_database, query

if os.environ.get("WATTPLAN_UNDER_TEST"):
    fault_cases.WATTPLAN = Path(os.environ["WATTPLAN_UNDER_TEST"])
wattplan = fault_cases.wattplan
WRITES = (("appliance", "add", "dryer"), ("enqueue", "washer"), ("enqueue", "heater"),
          ("profile", "add", "washer", "quick", "--power", "1kW", "--duration", "30m"))


@pytest.fixture(scope="module")
def damaged_copy(tmp_path_factory) -> Path:
    """A household with 400 ticks whose tick index has a damaged page (built once, copied per test)."""
    folder = tmp_path_factory.mktemp("damaged")
    db = household(folder / "wattplan.db")
    engine = make_engine(f"sqlite:///{db}")
    for minute in range(1, 400):  # enough ticks for the tick table's index to span several pages
        run_tick(engine=engine, now=T + timedelta(minutes=minute))
    engine.dispose()
    damage_a_tick_page(db)
    return db


@pytest.fixture
def db(tmp_path) -> Path:
    (tmp_path / "state").mkdir()
    return household(tmp_path / "state" / "wattplan.db")


@pytest.mark.parametrize("args", WRITES, ids=lambda args: " ".join(args[:2]))
def test_no_command_writes_into_a_damaged_database(damaged_copy, tmp_path, args):
    db = tmp_path / "wattplan.db"
    shutil.copy(damaged_copy, db)
    before = digest(db)
    assert_one_line(wattplan(db, *args, "--now", at(T + timedelta(minutes=401))) if args[0] == "enqueue"
                    else wattplan(db, *args), ExitStatus.ERROR, f"the database {db} is damaged (")
    assert digest(db) == before
    mode = db.stat().st_mode & 0o777  # the check's read may leave an empty -wal and a -shm: with its mode
    assert [(name, db.with_name(name).stat().st_mode & 0o777) for name in siblings(db)] in (
        [], [(db.name + "-shm", mode), (db.name + "-wal", mode)])


@pytest.mark.parametrize("args", [("db", "current"), ("status",), ("list",), ("state", "--now", at(T))],
                         ids=lambda args: args[0] + ("-" + args[1] if args[0] == "db" else ""))
def test_a_reader_changes_not_a_byte_of_a_rollback_journal_database(db, args):
    connection = sqlite3.connect(db)  # a restored backup, or the sqlite3 shell's default: no WAL
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.close()
    before = digest(db)
    result = wattplan(db, *args)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert digest(db) == before  # the header too: no switch to WAL
    assert siblings(db) == []
    assert query(db, "PRAGMA journal_mode") == [("delete",)]


def test_a_refused_write_on_a_read_only_database_leaves_nothing_that_keeps_it_read_only(db):
    with without_write_permission(db) as (seen, wrapper):
        db.parent.chmod(0o755)  # the directory writable: SQLite could create -wal/-shm beside it
        for args in (("enqueue", "washer", "--now", at(T)), ("appliance", "add", "dryer")):
            assert_one_line(wattplan(seen, *args, wrapper=wrapper), ExitStatus.ERROR,
                            f"the database is read-only (this user may not write {db}, mode 0444); nothing was changed")
        assert siblings(db) == []  # before: a 0444 -wal and -shm, and every later write failed
        db.chmod(0o660)  # the person fixes the mode: the next write works
        result = wattplan(seen, "enqueue", "washer", "--now", at(T), wrapper=wrapper)
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
    check_database(db)


def test_a_write_gives_a_leftover_shm_the_databases_mode(db):
    with sqlite3.connect(db) as keeper:  # an open connection keeps -wal/-shm, as a crashed writer leaves them
        keeper.execute("SELECT count(*) FROM home").fetchone()
        shm = db.with_name(db.name + "-shm")
        assert shm.exists()
        shm.chmod(0o444)  # as a failed write on a 0444 database left it
        with without_write_permission(db) as (seen, wrapper):
            db.chmod(0o660)
            db.parent.chmod(0o755)
            result = wattplan(seen, "enqueue", "washer", "--now", at(T), wrapper=wrapper)
            assert (result.returncode, result.stderr) == (0, ""), result.stderr
        assert shm.stat().st_mode & 0o777 == 0o660
    keeper.close()
    check_database(db)


@pytest.mark.parametrize("verb", ["done", "cancel"])
def test_a_run_never_ends_before_it_started_after_the_clock_came_back(db, verb):
    yesterday = T - timedelta(days=1)  # the washer started at T; now the clock says a day earlier
    tick = wattplan(db, "tick", "--now", at(yesterday))
    assert tick.returncode == 0, tick.stderr
    result = wattplan(db, verb, "1", "--now", at(yesterday))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    [(started, ended, state_since)] = query(db, "SELECT started_at, ended_at, state_since FROM execution "
                                                "WHERE id = 1")
    assert ended is not None and ended >= started, (started, ended)  # before: ended a day before it started
    assert state_since >= started
    check_database(db)


def test_an_energy_beyond_any_household_is_one_line_not_a_traceback(db):
    assert wattplan(db, "appliance", "add", "ev", "--min-power", "1.4kW", "--max-power", "4kW").returncode == 0
    before = digest(db)
    for text in ("1e308Wh", "1e300kWh", "480001kWh"):
        assert_one_line(wattplan(db, "enqueue", "ev", "--energy", text, "--now", at(T)), ExitStatus.ERROR,
                        f"--energy '{text}' is above the largest accepted energy, 480MWh")
    assert digest(db) == before
