"""Bad input of every kind, end to end on real SQLite files: one line on stderr, its exit code, and
nothing changed in the database; then the CLI a person expects (ids, --db anywhere, --version, help,
the trace formats people export). Each case failed on the main of issue 10 (README, "Bounds").
Files and traces: tests/test_input_files.py.
"""

import re
import sqlite3
import sys
from importlib.metadata import version

import pytest

from cli import app, hoist_db
from tests.input_cases import T0, executions, refused, washer_home, wattplan


@pytest.fixture
def db(tmp_path, monkeypatch):
    return washer_home(tmp_path, monkeypatch)


# --- numbers, durations and dates out of range ---------------------------------------------------


def test_an_id_beyond_any_integer_is_no_execution(db):
    refused(db, "cancel", "99999999999999999999",
            message="no execution #99999999999999999999 in this home: `wattplan list --all` shows them")
    refused(db, "done", "0", message="no execution #0 in this home: `wattplan list --all` shows them")


@pytest.mark.parametrize("command", [["enqueue", "washer"], ["tick"], ["status"], ["state"]])
def test_a_time_outside_2000_to_2100_is_refused(db, command):
    refused(db, *command, "--now", "9999-12-31T23:00",
            message="--now '9999-12-31T23:00' is outside the years 2000 to 2100")


def test_a_duration_beyond_366_days_is_refused(db):
    refused(db, "enqueue", "washer", "--within", "1000000000d", "--now", T0,
            message="--within '1000000000d' is longer than the longest accepted, 366d")
    refused(db, "profile", "add", "washer", "long", "--power", "1kW", "--duration", "9" * 400,
            message=f"--duration '{'9' * 400}' is longer than the longest accepted, 366d")


def test_a_duration_under_one_second_is_refused(db):
    """Whole seconds are stored: a slot of 0.4s would become 0 (then the default, silently)."""
    refused(db, "profile", "add", "washer", "x", "--watts", "1000", "--slot", "0.4s",
            message="--slot '0.4s' is shorter than the shortest accepted, 1s")


def test_a_program_longer_than_48_hours_is_refused(db):
    refused(db, "profile", "add", "washer", "long", "--power", "1kW", "--duration", "300d",
            message="a program of 7200h is longer than the longest accepted, 48h")


def test_a_power_beyond_10_megawatts_is_refused(db):
    refused(db, "init", "--limit", "1e300kW", message="--limit '1e300kW' is above the largest accepted power, 10MW")


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--horizon", "36500d", "--horizon '36500d' is longer than the longest accepted, 366d"),
    ("--horizon", "8d", "horizon 192h is longer than the longest accepted, 7d"),
    ("--slot", "30s", "slot 30s is not between 1m and 1h"),
    ("--slot", "2h", "slot 2h is not between 1m and 1h"),
])
def test_home_settings_outside_their_bounds_are_refused(db, option, value, message):
    refused(db, "init", option, value, message=message)


def test_a_setting_saved_before_the_bounds_is_one_line_at_the_tick_and_init_repairs_it(db):
    """A home an older version saved with a 100-year horizon: the tick says so in one line and
    writes nothing (it used to run out of memory every minute); the advice it gives works."""
    wattplan("enqueue", "washer", "--now", "2026-06-30T08:00")
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE home SET horizon_s = ?", (36500 * 86400,))
    refused(db, "tick", "--now", "2026-06-30T08:00", message=(
        "the home's settings cannot be planned: horizon 876000h is longer than the longest accepted, 7d; "
        "change them with `wattplan init`"))
    wattplan("init", "--horizon", "24h")
    assert "1 start" in wattplan("tick", "--now", "2026-06-30T08:00").stdout


# --- settings that can never work ----------------------------------------------------------------


def test_a_reserve_not_below_the_limit_is_refused_with_both_numbers(db):
    refused(db, "init", "--reserve", "10kW",
            message="a reserve of 10kW leaves nothing of the 6.9kW limit: nothing could ever run")


def test_a_limit_below_a_program_peak_is_refused_with_both_numbers(db):
    refused(db, "init", "--limit", "1kW",
            message="a limit of 1kW is below the 2kW peak of program 'eco' of 'washer': it could never run "
                    "(remove it first, or keep the limit at 2kW or more)")


def test_enqueue_refuses_a_program_that_can_never_fit_the_limit(db):
    with sqlite3.connect(db) as connection:  # lowered behind wattplan's back, as an old release allowed
        connection.execute("UPDATE home SET limit_w = 1000")
    refused(db, "enqueue", "washer", "eco", "--now", T0,
            message="program 'eco' peaks at 2kW, above the home's limit of 1kW: it could never run")


def test_a_deadline_that_cannot_be_met_is_accepted_with_a_warning(db):
    result = wattplan("enqueue", "washer", "--by", "10:00", "--now", "2026-06-30T09:50")
    assert result.stdout == "1\n"
    assert result.stderr == ("warning: execution #1 ends at 2026-06-30 11:20 at the earliest, after its "
                             "deadline 2026-06-30 10:00\n")
    assert executions(db) == 1


def test_a_deadline_that_can_be_met_says_nothing(db):
    assert wattplan("enqueue", "washer", "--within", "2h", "--now", T0).stderr == ""


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "message"), [
    (["profile", "add", "washer", "", "--power", "1kW", "--duration", "1h"], "a program needs a name"),
    (["profile", "add", "washer", "  ", "--power", "1kW", "--duration", "1h"], "a program needs a name"),
    (["profile", "add", "washer", "a\nb", "--power", "1kW", "--duration", "1h"],
     "a program name 'a\\nb' holds characters that are not printable (newlines, tabs, escapes)"),
    (["appliance", "add", "\x1b[31mred"],
     "an appliance name '\\x1b[31mred' holds characters that are not printable (newlines, tabs, escapes)"),
    (["appliance", "add", "x" * 65], "an appliance name is 65 characters long, more than 64"),
])
def test_names_are_printable_and_not_empty(db, command, message):
    refused(db, *command, message=message)


# --- database URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://me:s3cret@host/db", "a mysql:// database needs the Python module MySQLdb, which is not installed: "
                                  "pip install mysqlclient; wattplan is tested on SQLite and PostgreSQL only"),
    ("postgresql+psycopg://me:s3cret@host/db", "a postgresql+psycopg:// database needs the Python module "
                                               "psycopg, which is not installed: pip install 'wattplan[postgres]'"),
    ("nosuch://host/db", "unknown database kind 'nosuch': use sqlite:// or postgresql+psycopg://"),
])
def test_a_database_url_without_its_driver_says_what_to_install(db, url, message, monkeypatch):
    for module in ("psycopg", "MySQLdb"):  # as if not installed (the test extra installs psycopg)
        monkeypatch.setitem(sys.modules, module, None)
    refused(db, "--db", url, "status", message=message)


# --- daylight saving -----------------------------------------------------------------------------


def latest_end(db) -> str:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT latest_end FROM execution ORDER BY id DESC").fetchone()[0]


@pytest.mark.parametrize(("by", "now"), [
    ("2026-03-29T02:30", "2026-03-28T10:00"),
    ("02:30", "2026-03-28T10:00"),  # the next 02:30 is the one that does not exist
])
def test_a_local_time_in_the_spring_gap_is_read_after_it_with_a_warning(db, by, now):
    result = wattplan("enqueue", "washer", "--by", by, "--now", now)
    assert (result.stdout, result.stderr) == ("1\n", "warning: --by 2026-03-29 02:30 does not exist in Europe/Berlin "
                                              "(the clocks go forward): read as 03:30 CEST\n")
    assert latest_end(db) == "2026-03-29 01:30:00.000000"  # 03:30 CEST


@pytest.mark.parametrize(("by", "now"), [("2026-10-25T02:30", "2026-10-24T10:00"), ("02:30", "2026-10-24T10:00")])
def test_a_local_time_in_the_autumn_overlap_is_the_first_with_a_warning(db, by, now):
    result = wattplan("enqueue", "washer", "--not-before", "2026-10-24T23:00", "--by", by, "--now", now)
    assert result.stderr == ("warning: --by 2026-10-25 02:30 happens twice in Europe/Berlin (the clocks go back): "
                             "read as the first, 2026-10-25T02:30+02:00; the second is 2026-10-25T02:30+01:00\n")
    assert latest_end(db) == "2026-10-25 00:30:00.000000"  # 02:30 CEST


def test_a_time_with_an_offset_in_the_overlap_is_exact(db):
    result = wattplan("enqueue", "washer", "--by", "2026-10-25T02:30+01:00", "--now", "2026-10-24T10:00")
    assert result.stderr == ""
    assert latest_end(db) == "2026-10-25 01:30:00.000000"


# --- the CLI a person expects --------------------------------------------------------------------


def test_list_always_shows_the_id_column_on_80_columns(db):
    wattplan("appliance", "add", "dishwasher-in-the-kitchen-upstairs-next-to-the-window")
    wattplan("profile", "add", "dishwasher-in-the-kitchen-upstairs-next-to-the-window",
             "intensive-seventy-degrees-with-prewash", "--power", "2kW", "--duration", "1h")
    for _ in range(10):
        wattplan("enqueue", "dishwasher-in-the-kitchen-upstairs-next-to-the-window", "--now", T0)
    lines = wattplan("list", env={"COLUMNS": "80"}).stdout.splitlines()
    assert lines[0].startswith("id ")
    ids = [line.split()[0] for line in lines[1:] if line[:1].isdigit()]
    assert ids == [str(i) for i in range(1, 11)]


@pytest.mark.parametrize("args", [["status", "--db", "{db}"], ["list", "--db={db}"], ["--db", "{db}", "list"],
                                  ["appliance", "list", "--db", "{db}"]])
def test_db_is_accepted_before_or_after_the_command(db, tmp_path, monkeypatch, args):
    monkeypatch.setenv("WATTPLAN_DB", str(tmp_path / "elsewhere.db"))  # would fail: it does not exist
    wattplan(*[arg.format(db=db) for arg in args])


def test_db_after_the_separator_is_an_argument():
    assert hoist_db(["enqueue", "--db", "x", "--", "--db"]) == ["--db", "x", "enqueue", "--", "--db"]


def test_version():
    assert wattplan("--version").stdout == f"wattplan {version('wattplan')}\n"


def _all_commands(group=None, prefix=()):
    import typer

    group = group or typer.main.get_command(app)
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from _all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *_all_commands()], ids=lambda path: " ".join(path) or "wattplan")
def test_help_has_no_type_placeholders(path):
    text = wattplan(*path, "--help", env={"COLUMNS": "200"}).stdout
    assert not re.search(r"<(bool|str|int|float|path)>|\{[A-Z]", text), text


