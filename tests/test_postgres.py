"""PostgreSQL end to end: every command, the schema, the views and several homes on a real server.

The server is started by the tests themselves (tests/postgres.py: initdb in a temporary folder, a
free loopback port); each test gets a new empty database. Nothing is mocked.
"""

import json
from datetime import datetime

import pytest
from alembic import command

import migrations
from reconcile.shell.db import current_revision, make_engine
from reconcile.shell.migrate import alembic_config, downgrade, upgrade
from tests.cli_home import error, wattplan
from tests.workers import check_database, query

VIEWS = {"running_now", "planned", "timetable", "slot_load"}


@pytest.fixture
def pg(pg_url, monkeypatch):
    """The CLI pointed at a new, empty PostgreSQL database."""
    monkeypatch.setenv("WATTPLAN_DB", pg_url)
    return pg_url


@pytest.fixture
def pg_home(pg):
    """A 6.9 kW home in Berlin with a washer (pausable) and a dishwasher, on PostgreSQL."""
    wattplan("init", "--limit", "6.9kW", "--timezone", "Europe/Berlin")
    wattplan("appliance", "add", "washer", "--interruptible")
    wattplan("profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h30m")
    wattplan("appliance", "add", "dishwasher")
    wattplan("profile", "add", "dishwasher", "eco", "--power", "1.8kW", "--duration", "1h")
    return pg


def test_migrations_upgrade_check_downgrade_and_upgrade_again(pg_url):
    engine = make_engine(pg_url)
    assert current_revision(engine) is None
    assert upgrade(engine) == migrations.HEAD
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.check(config)  # the models and the migrated schema agree on PostgreSQL too
    assert {name for (name,) in query(pg_url, "SELECT viewname FROM pg_views WHERE schemaname = 'public'")} == VIEWS
    assert downgrade(engine, "base") is None
    assert upgrade(engine) == migrations.HEAD
    engine.dispose()


def test_db_commands_on_a_new_database(pg):
    assert wattplan("db", "current").stdout == f"empty (the newest is {migrations.HEAD}: run `wattplan db upgrade`)\n"
    assert wattplan("db", "upgrade").stdout == f"database at revision {migrations.HEAD} (head), was empty\n"
    assert wattplan("db", "current").stdout == f"{migrations.HEAD} (head)\n"


def test_a_day_of_commands_runs_plans_and_stores_times_in_utc(pg_home):
    washer = int(wattplan("enqueue", "washer", "eco", "--within", "6h", "--now", "2026-06-30T08:00").stdout)
    dishwasher = int(wattplan("enqueue", "dishwasher", "eco", "--now", "2026-06-30T08:00").stdout)
    summary = wattplan("tick", "--now", "2026-06-30T08:00").stdout
    assert "2 start" in summary and "2 planned, 0 unplaced" in summary
    shown = json.loads(wattplan("state", "--json", "--now", "2026-06-30T08:01").stdout)
    state = {row["appliance"]: row for row in shown}
    assert state["washer"]["should_run"] and state["washer"]["execution_id"] == washer
    status = json.loads(wattplan("status", "--json", "--now", "2026-06-30T08:01").stdout)
    assert {run["id"] for run in status["executions"]} == {washer, dishwasher}
    timetable = json.loads(wattplan("timetable", "--json").stdout)
    assert timetable["tick"] is not None and timetable["entries"]
    assert len(json.loads(wattplan("decisions", "--json", "--now", "2026-06-30T08:01").stdout)) == 2
    # Berlin 08:00 in summer is 06:00 UTC, stored as such (timestamp without time zone, UTC)
    assert query(pg_home, "SELECT requested_at FROM execution WHERE id = ?", (washer,)) == [
        (datetime(2026, 6, 30, 6, 0),)]
    assert wattplan("done", str(dishwasher), "--now", "2026-06-30T08:30").stdout.startswith("marked done execution")
    wattplan("cancel", str(washer), "--now", "2026-06-30T08:31")
    assert "2 stop" in wattplan("tick", "--now", "2026-06-30T08:32").stdout
    assert {row[0] for row in query(pg_home, "SELECT state FROM execution")} == {"finished", "cancelled"}
    check_database(pg_home)


def test_the_views_answer_on_postgresql(pg_home):
    wattplan("enqueue", "washer", "eco", "--now", "2026-06-30T08:00")
    wattplan("tick", "--now", "2026-06-30T08:00")
    assert [row[1:3] for row in query(pg_home, "SELECT * FROM running_now")] == [("washer", "eco")]
    assert len(query(pg_home, "SELECT * FROM planned")) == 1
    stretches = query(pg_home, "SELECT starts_at, ends_at FROM timetable")
    assert stretches == [(datetime(2026, 6, 30, 6, 0), datetime(2026, 6, 30, 7, 30))]
    slots = query(pg_home, "SELECT slot_start_utc, planned_w, capacity_w FROM slot_load ORDER BY 1")
    assert len(slots) == 90 and {float(w) for _, w, _ in slots} == {2000.0}
    assert {c for *_, c in slots} == {6900.0}


def test_forecasts_and_the_sample_home(pg):
    """The sample day (moved to today: the real clock) shown in the home's time zone."""
    assert wattplan("init", "--sample", "--limit", "6.9kW", "--timezone", "Europe/Madrid").stdout.startswith("created")
    shown = json.loads(wattplan("forecast", "show", "pv", "--json").stdout)
    assert len(shown) == 96 and all(row["start"][-6:] in ("+01:00", "+02:00") for row in shown)  # Madrid
    wattplan("enqueue", "ev", "charge")
    assert "1 planned" in wattplan("tick").stdout


def test_homes_are_separate_and_ids_are_checked_against_the_chosen_home(pg_home):
    wattplan("--home", "beach", "init", "--limit", "3.45kW", "--timezone", "Europe/Lisbon")
    assert error("list") == ("error: this database has several homes: choose one with --home NAME or "
                             "WATTPLAN_HOME (`wattplan home list` shows them)\n")
    mine = int(wattplan("enqueue", "washer", "eco", "--home", "home").stdout)
    assert error("--home", "beach", "cancel", str(mine)).startswith(f"error: no execution #{mine} in this home")
    assert error("--home", "beach", "enqueue", "washer", "eco").startswith("error: unknown appliance 'washer'")
    listed = json.loads(wattplan("home", "list", "--json").stdout)
    assert [(h["name"], h["open_runs"]) for h in listed] == [("beach", 0), ("home", 1)]
    ticked = wattplan("tick", "--all").stdout.splitlines()
    assert [line.split(":")[0] for line in ticked] == ["beach", "home"]
    assert "1 start" in ticked[1] and "no decisions" in ticked[0]
    assert query(pg_home, "SELECT count(*) FROM home WHERE ticked_at IS NULL") == [(0,)]
    assert error("--home", "nowhere", "status").startswith("error: no home named 'nowhere'")


def test_an_unreachable_server_is_one_line(monkeypatch, postgres_server):
    monkeypatch.setenv("WATTPLAN_DB", f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port + 1}/x")
    message = error("status")
    assert message.startswith("error: ") and "Traceback" not in message
