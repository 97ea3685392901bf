"""The command line, end to end on real SQLite files: exact output, exact one-line errors.

Time never comes from the clock here: every command that depends on it gets `--now`.
"""

import json
import re
import stat
from datetime import datetime

import pytest

import migrations
from reconcile.shell.db import make_engine
from reconcile.shell.migrate import downgrade
from tests.cli_home import T0, count, error, lines, rows, wattplan

# --- the database and the home ---------------------------------------------------------------


def test_init_creates_the_database_readable_by_the_group_only(db):
    result = wattplan("init", "--limit", "6.9kW", "--timezone", "Europe/Lisbon")
    assert result.stdout == ("created the home: limit 6.9kW, reserve 0W, Europe/Lisbon, 1m slots, "
                             "24h horizon, asap\n")
    assert stat.S_IMODE(db.stat().st_mode) == 0o660
    for companion in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        assert not companion.exists() or stat.S_IMODE(companion.stat().st_mode) == 0o660
    assert rows(db, "SELECT limit_w, timezone, slot_s, horizon_s FROM home") == [
        (6900.0, "Europe/Lisbon", 60, 86400)]


def test_init_again_changes_only_the_settings_given(home):
    result = wattplan("init", "--limit", "6.9kW", "--slot", "15m", "--objective", "cheapest",
                      "--reserve", "0")
    assert result.stdout == ("updated the home: limit 6.9kW, reserve 0W, Europe/Berlin, 15m slots, "
                             "24h horizon, cheapest\n")
    assert count(home, "home") == 1


def test_db_upgrade_creates_then_is_a_no_op(db):
    assert wattplan("db", "upgrade").stdout == f"database at revision {migrations.HEAD} (head), was empty\n"
    assert wattplan("db", "upgrade").stdout == f"database at revision {migrations.HEAD} (head)\n"
    assert wattplan("db", "current").stdout == f"{migrations.HEAD} (head)\n"
    assert stat.S_IMODE(db.stat().st_mode) == 0o660


def test_db_current_on_an_emptied_database_says_how_to_upgrade(home):
    downgrade(make_engine(f"sqlite:///{home}"), "base")
    assert wattplan("db", "current").stdout == f"empty (the newest is {migrations.HEAD}: run `wattplan db upgrade`)\n"


def test_init_sample_loads_the_sample_home_once(db):
    result = wattplan("init", "--sample")
    assert result.stdout.startswith("created the home: limit 4.6kW, reserve 300W, Europe/Berlin, 1m slots, ")
    assert re.search(r"sample: added 4 appliances and 4 programs, 216 forecast values \(moved [-+]\d+ days",
                     result.stdout)
    again = wattplan("init", "--sample").stdout
    assert "added 0 appliances and 0 programs, 216 forecast values" in again
    assert (count(db, "appliance"), count(db, "profile"), count(db, "forecast")) == (4, 4, 216)
    listed = json.loads(wattplan("appliance", "list", "--json").stdout)
    assert [a["name"] for a in listed] == ["dishwasher", "dryer", "ev", "washer"]


# --- appliances and programs -----------------------------------------------------------------


def test_appliance_add_list_show_remove(washer):
    wattplan("appliance", "add", "heater", "--interruptible", "--min-run", "5m", "--min-pause", "10m",
             "--priority-class", "3")
    assert lines(wattplan("appliance", "list").stdout) == (
        "appliance  interruptible  min run  min pause  class  max delay  programs\n"
        "heater     yes            5m       10m        3      -          -\n"
        "washer     no             -        -          5      6h         eco\n")
    shown = json.loads(wattplan("appliance", "show", "washer", "--json").stdout)
    assert shown == {"name": "washer", "interruptible": False, "min_run_s": 0, "min_pause_s": 0,
                     "priority_class": 5, "max_delay_s": 21600, "min_power_w": None, "max_power_w": None,
                     "power_step_w": None, "relay": None,
                     "programs": [{"appliance": "washer", "name": "eco", "slot_s": 5400, "duration_s": 5400,
                                   "energy_wh": 3000.0, "peak_w": 2000.0, "source": None}],
                     "topic_id": "washer", "default_energy_wh": None}
    assert wattplan("appliance", "remove", "heater").stdout == "removed appliance 'heater'\n"
    assert [a["name"] for a in json.loads(wattplan("appliance", "list", "--json").stdout)] == ["washer"]


def test_profile_add_from_power_and_duration_and_from_watts(washer):
    assert (wattplan("profile", "add", "washer", "quick", "--watts", "2000,0,500W", "--slot", "15m").stdout
            == "added program 'quick' of 'washer': 45m, 0.62 kWh, peak 2kW\n")
    assert lines(wattplan("profile", "list", "washer").stdout) == (
        "appliance  program  duration  energy    peak  slot\n"
        "washer     eco      1h30m     3.00 kWh  2kW   1h30m\n"
        "washer     quick    45m       0.62 kWh  2kW   15m\n")


def test_profile_from_a_measured_trace_keeps_mean_and_peak_per_slot(washer, tmp_path):
    trace = tmp_path / "dryer.csv"
    trace.write_text("offset,watts,note\n0,100,fill\n30s,3000,heater peak\n40,1000,\n1m30s,200,\n")
    result = wattplan("profile", "add", "washer", "measured", "--csv", trace, "--slot", "1m")
    assert result.stdout == "added program 'measured' of 'washer': 3m, 0.03 kWh, peak 3kW\n"
    # 0–30 s 100 W, 30–40 s 3000 W, 40–90 s 1000 W, 90–140 s 200 W (the last row lasts as long as the
    # one before); minute 1: (30·100 + 10·3000 + 20·1000) / 60, minute 2: (30·1000 + 30·200) / 60,
    # minute 3: 20·200 / 60
    assert rows(washer, "SELECT watts, peak_watts, slot_s, source FROM profile WHERE name = 'measured'") == [
        ("[883.333, 600.0, 66.667]", "[3000.0, 1000.0, 200.0]", 60, "measured trace dryer.csv")]


@pytest.mark.parametrize(("content", "message"), [
    ("when,watts\n0,100\n", "dryer.csv: the header (line 1) names no time column (offset, timestamp, time, "
                             "last_changed, datetime); name it with --time-column"),
    ("", "dryer.csv: the header (line 1) names no time column (offset, timestamp, time, last_changed, "
         "datetime); name it with --time-column"),
    ("offset,watts\n", "dryer.csv: no samples after the header"),
    ("offset,watts\n0,100\n60,abc\n", "dryer.csv line 3: the power is not a finite power of zero or more "
                                      "(2000, 2kW)"),
    ("offset,watts\n0,100\n60,-5\n", "dryer.csv line 3: the power is not a finite power of zero or more "
                                     "(2000, 2kW)"),
    ("offset,watts\n0,100\n60,nan\n", "dryer.csv line 3: the power is not a finite power of zero or more "
                                      "(2000, 2kW)"),
    ("offset,watts\n0,100\nsoon,5\n", "dryer.csv line 3: the offset is not seconds (90) or a duration "
                                      "(90s, 1m30s) of at most 48h"),
    ("offset,watts\n0,100\n60,5\n60,5\n", "dryer.csv line 4: the offset is not after the previous row's"),
    ("offset,watts\n5,100\n", "dryer.csv line 2: the first offset must be 0"),
    ("offset,watts\n0,100\n60\n", "dryer.csv line 3: expected 2 columns, got 1"),
    ("offset,watts\n0,0\n60,0\n", "dryer.csv: every sample is 0 W; a program must draw some power"),
])
def test_a_bad_trace_is_one_line_naming_the_line(washer, tmp_path, content, message):
    trace = tmp_path / "dryer.csv"
    trace.write_text(content)
    assert error("profile", "add", "washer", "dry", "--csv", trace) == f"error: {message}\n"
    assert count(washer, "profile") == 1


# --- bad input: one line on stderr, a documented exit code, nothing written -------------------


@pytest.mark.parametrize(("args", "message"), [
    (["enqueue", "dryer"], "unknown appliance 'dryer': `wattplan appliance list` shows them"),
    (["enqueue", "washer", "quick"], "unknown program 'quick' for appliance 'washer'"),
    (["enqueue", "washer", "--within", "4x"], "--within '4x' is not a duration like 90m, 1h30m or 4h"),
    (["enqueue", "washer", "--within", "0m"], "--within '0m' must be longer than zero"),
    (["enqueue", "washer", "--within", "-4h"], "--within '-4h' is not a duration like 90m, 1h30m or 4h"),
    (["enqueue", "washer", "--within", "nan"], "--within 'nan' is not a duration like 90m, 1h30m or 4h"),
    (["enqueue", "washer", "--within", "infh"], "--within 'infh' is not a duration like 90m, 1h30m or 4h"),
    (["enqueue", "washer", "--by", "2026-06-30T07:00"],
     "--by 2026-06-30 07:00 is in the past (it is 2026-06-30 08:00 in Europe/Berlin)"),
    (["enqueue", "washer", "--not-before", "2026-06-30T12:00", "--by", "2026-06-30T11:00"],
     "--by must be after --not-before"),
    (["enqueue", "washer", "--within", "1h", "--by", "12:00"], "give either --within or --by, not both"),
    (["enqueue", "washer", "--by", "tomorrow"],
     "--by 'tomorrow' is not ISO 8601 (2026-06-30T18:00) or HH:MM"),
    (["enqueue", "washer", "--priority-class", "11"], "priority class 11 is not between 1 and 10"),
    (["enqueue", "washer", "--objective", "fast"], "unknown objective 'fast': choose asap, cheapest, solar"),
])
def test_a_bad_request_is_one_line_and_stores_nothing(washer, args, message):
    assert error(*args, "--now", T0) == f"error: {message}\n"
    assert count(washer, "execution") == 0


@pytest.mark.parametrize(("args", "message"), [
    (["profile", "add", "dryer", "eco", "--power", "2kW", "--duration", "1h"],
     "unknown appliance 'dryer': `wattplan appliance list` shows them"),
    (["profile", "add", "washer", "x", "--power", "2kx", "--duration", "1h"],
     "--power '2kx' is not a power like 2000, 2000W or 2kW"),
    (["profile", "add", "washer", "x", "--power", "0", "--duration", "1h"],
     "--power '0' must be a finite power above zero"),
    (["profile", "add", "washer", "x", "--power", "-2kW", "--duration", "1h"],
     "--power '-2kW' must be a finite power above zero"),
    (["profile", "add", "washer", "x", "--power", "nan", "--duration", "1h"],
     "--power 'nan' must be a finite power above zero"),
    (["profile", "add", "washer", "x", "--power", "inf", "--duration", "1h"],
     "--power 'inf' must be a finite power above zero"),
    (["profile", "add", "washer", "x", "--power", "1e999", "--duration", "1h"],
     "--power '1e999' must be a finite power above zero"),
    (["profile", "add", "washer", "x", "--power", "2kW", "--duration", "1h30"],
     "--duration '1h30' is not a duration like 90m, 1h30m or 4h"),
    (["profile", "add", "washer", "x", "--power", "2kW", "--duration", "0s"],
     "--duration '0s' must be longer than zero"),
    (["profile", "add", "washer", "x", "--watts", "2000,nan"],
     "--watts value 2 ('nan') is not a finite power of zero or more, like 2000 or 2kW"),
    (["profile", "add", "washer", "x", "--watts", "2000,-1"],
     "--watts value 2 ('-1') is not a finite power of zero or more, like 2000 or 2kW"),
    (["profile", "add", "washer", "x", "--watts", "0,0"],
     "a program must draw some power: every value is zero"),
    (["profile", "add", "washer", "heavy", "--power", "7kW", "--duration", "1h"],
     "program 'heavy' peaks at 7kW, above the home's limit of 4.6kW: it could never run"),
    (["profile", "add", "washer", "heavy", "--watts", "4601,100"],
     "program 'heavy' peaks at 4601W, above the home's limit of 4600W: it could never run"),
    (["profile", "add", "washer", "eco", "--power", "1kW", "--duration", "1h"],
     "appliance 'washer' already has a program 'eco'"),
    (["profile", "add", "washer", "x", "--csv", "missing.csv"],
     "cannot read missing.csv: No such file or directory"),
])
def test_a_bad_program_is_one_line_and_stores_nothing(washer, args, message):
    assert error(*args) == f"error: {message}\n"
    assert count(washer, "profile") == 1


@pytest.mark.parametrize("args", [
    ["profile", "add", "washer", "x"],
    ["profile", "add", "washer", "x", "--power", "2kW"],
    ["profile", "add", "washer", "x", "--power", "2kW", "--duration", "1h", "--watts", "1,2"],
    ["profile", "add", "washer", "x", "--power", "2kW", "--duration", "1h", "--slot", "1m"],
])
def test_profile_add_needs_exactly_one_kind_of_curve(washer, args):
    assert error(*args, code=2) == (
        "error: give --power with --duration, or --watts, or --csv (--slot only with the last two)\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--limit", "6.9kW", "--timezone", "Mars/Olympus"],
     "unknown timezone 'Mars/Olympus': use an IANA name like Europe/Lisbon"),
    (["--limit", "0", "--timezone", "Europe/Lisbon"], "--limit '0' must be a finite power above zero"),
    (["--limit", "lots", "--timezone", "Europe/Lisbon"],
     "--limit 'lots' is not a power like 2000, 2000W or 2kW"),
    (["--limit", "6.9kW"], "a new home needs --limit and --timezone"),
    (["--limit", "6.9kW", "--timezone", "Europe/Lisbon", "--slot", "1x"],
     "--slot '1x' is not a duration like 90m, 1h30m or 4h"),
])
def test_a_bad_home_is_one_line_and_stores_nothing(db, args, message):
    assert error("init", *args) == f"error: {message}\n"
    tables = {name for (name,) in rows(db, "SELECT name FROM sqlite_master")} if db.exists() else set()
    assert "home" not in tables or count(db, "home") == 0


@pytest.mark.parametrize(("args", "message"), [
    (["appliance", "add", "washer"], "appliance 'washer' already exists"),
    (["appliance", "add", "oven", "--min-run", "5m"],
     "--min-run and --min-pause apply only to an --interruptible appliance"),
    (["appliance", "add", "oven", "--max-delay", "soon"],
     "--max-delay 'soon' is not a duration like 90m, 1h30m or 4h"),
    (["appliance", "add", "oven", "--priority-class", "0"], "priority class 0 is not between 1 and 10"),
    (["appliance", "show", "oven"], "unknown appliance 'oven': `wattplan appliance list` shows them"),
    (["appliance", "remove", "oven"], "unknown appliance 'oven': `wattplan appliance list` shows them"),
])
def test_a_bad_appliance_is_one_line_and_stores_nothing(washer, args, message):
    assert error(*args) == f"error: {message}\n"
    assert count(washer, "appliance") == 1


def test_an_appliance_with_history_cannot_be_removed(washer):
    wattplan("enqueue", "washer", "--now", T0)
    assert error("appliance", "remove", "washer") == (
        "error: appliance 'washer' has 1 execution(s) in its history; it cannot be removed\n")


@pytest.mark.parametrize(("args", "message"), [
    (["cancel", "7"], "no execution #7 in this home: `wattplan list --all` shows them"),
    (["done", "1"], "execution #1 has not started; use `wattplan cancel 1`"),
])
def test_ending_a_run_that_cannot_end_is_one_line(washer, args, message):
    wattplan("enqueue", "washer", "--now", T0)
    assert error(*args, "--now", T0) == f"error: {message}\n"
    assert rows(washer, "SELECT state FROM execution") == [("pending",)]


def test_ending_a_run_twice_is_one_line(washer):
    wattplan("enqueue", "washer", "--now", T0)
    wattplan("cancel", "1", "--now", T0)
    assert error("cancel", "1", "--now", T0) == "error: execution #1 is already cancelled\n"


def test_a_database_not_at_the_newest_revision_is_refused_with_its_own_exit_code(washer):
    downgrade(make_engine(f"sqlite:///{washer}"), "base")
    message = "error: the database has no schema yet: run `wattplan db upgrade`\n"
    for args in (["appliance", "list"], ["enqueue", "washer"], ["tick"], ["status"], ["state"]):
        assert error(*args, code=3) == message


def test_a_missing_database_is_not_created_by_a_read(db):
    assert error("status", code=3) == (
        f"error: no database at {db}: create it with `wattplan init` or `wattplan db upgrade`\n")
    assert not db.exists()


def test_an_unwritable_database_path_is_one_line(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    args = ["--db", missing / "w.db", "init", "--limit", "6.9kW", "--timezone", "Europe/Lisbon"]
    assert error(*args) == f"error: cannot create the database: directory {missing} does not exist\n"
    assert error("--db", missing / "w.db", "db", "upgrade") == (
        f"error: cannot create the database: directory {missing} does not exist\n")
    assert not missing.exists()


def test_bad_time_options_are_one_line(washer):
    assert error("tick", "--now", "later") == (
        "error: --now 'later' is not ISO 8601 (2026-06-30T18:00) or HH:MM\n")
    assert error("timetable", "--hours", "0") == (
        "error: --hours 0 must be above 0 and at most 336 (two weeks)\n")
    assert error("status", "--check", "--max-age", "0s") == "error: --max-age '0s' must be longer than zero\n"
    assert count(washer, "tick") == 0


def test_before_init_commands_say_how_to_start(db):
    wattplan("db", "upgrade")
    assert error("tick") == ("error: no home configured yet: run `wattplan init --limit 6.9kW --timezone "
                             "Europe/Lisbon`\n")
    assert error("appliance", "add", "washer") == (
        "error: no home configured yet: run `wattplan init --limit 6.9kW --timezone Europe/Lisbon`\n")


# --- where the database is, and the services the CLI calls -------------------------------------


def test_the_database_is_found_by_option_then_environment_then_state_directory_then_app_dir(
        tmp_path, monkeypatch):
    monkeypatch.delenv("WATTPLAN_DB")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    wattplan("db", "upgrade")  # creates the user's app directory, private to the user
    app_dir = tmp_path / "config" / "wattplan"
    assert (app_dir / "wattplan.db").exists() and stat.S_IMODE(app_dir.stat().st_mode) == 0o700
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    wattplan("db", "upgrade")
    assert (tmp_path / "wattplan.db").exists()
    monkeypatch.setenv("WATTPLAN_DB", f"sqlite:///{tmp_path / 'url.db'}")
    wattplan("db", "upgrade")
    wattplan("--db", tmp_path / "option.db", "db", "upgrade")
    assert (tmp_path / "url.db").exists() and (tmp_path / "option.db").exists()


def test_a_program_whose_stored_peak_exceeds_the_limit_is_refused(home):
    from reconcile.errors import ReconcileError
    from reconcile.shell import catalog
    from reconcile.shell.db import transaction

    wattplan("appliance", "add", "heater")
    with pytest.raises(ReconcileError, match=r"peaks at 5kW, above the home's limit of 4.6kW"):
        # a peak given below the slot's mean counts as the mean: 5 kW, above the limit
        with transaction(make_engine(f"sqlite:///{home}")) as session:
            catalog.add_profile(session, now=datetime(2026, 6, 30).astimezone(), appliance="heater", name="x",
                                slot_s=60, watts=[5000.0], peak_watts=[100.0])
    assert count(home, "profile") == 0
