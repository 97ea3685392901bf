"""The command line, end to end on real SQLite files: asking for runs, ticks and what they show.

Time never comes from the clock here: every command that depends on it gets `--now`.
"""

import json
from datetime import datetime, timedelta

import pytest

from reconcile.shell.db import make_engine
from tests.cli_home import T0, count, error, lines, rows, tick, wattplan

# --- runs and ticks --------------------------------------------------------------------------


def test_enqueue_prints_only_the_new_id(washer):
    assert wattplan("enqueue", "washer", "--within", "4h", "--now", T0).stdout == "1\n"
    second = wattplan("enqueue", "washer", "eco", "--not-before", "20:00", "--by", "06:00", "--now", T0)
    assert second.stdout == "2\n"
    assert rows(washer, "SELECT id, requested_at, earliest_start, latest_end FROM execution") == [
        (1, "2026-06-30 06:00:00.000000", "2026-06-30 06:00:00.000000", "2026-06-30 10:00:00.000000"),
        # HH:MM is the next one in Berlin; --by's is the next one after --not-before
        (2, "2026-06-30 06:00:00.000000", "2026-06-30 18:00:00.000000", "2026-07-01 04:00:00.000000")]


def test_list_shows_open_runs_and_all_with_all(washer):
    wattplan("enqueue", "washer", "--now", T0)
    wattplan("enqueue", "washer", "--now", T0)
    wattplan("cancel", "2", "--now", T0)
    assert [e["id"] for e in json.loads(wattplan("list", "--json").stdout)] == [1]
    listed = json.loads(wattplan("list", "--all", "--json").stdout)
    assert [(e["id"], e["state"], e["end_reason"]) for e in listed] == [
        (1, "pending", None), (2, "cancelled", "cancelled")]
    assert list(listed[0]) == [
        "id", "appliance", "program", "state", "priority", "priority_class", "requested_at", "earliest_start",
        "latest_end", "planned_start", "planned_end", "late_s", "state_since", "progress_s", "duration_s",
        "started_at", "ended_at", "end_reason", "note"]


def test_tick_starts_what_fits_and_a_second_tick_at_the_same_now_decides_nothing(heater):
    wattplan("enqueue", "washer", "--now", T0)
    wattplan("enqueue", "heater", "--now", T0)
    assert tick() == ("tick 1 at 2026-06-30T06:00:00+00:00: 1 start; 0 finished, 2 planned, 0 unplaced "
                      "(N ms)\n")
    assert tick() == ("tick 2 at 2026-06-30T06:00:00+00:00: no decisions; 0 finished, 2 planned, 0 unplaced "
                      "(N ms)\n")
    assert count(heater, "decision") == 1


def test_tick_json_lists_decisions_planned_finished_unplaced_problems(washer):
    wattplan("enqueue", "washer", "--now", T0)
    report = json.loads(wattplan("tick", "--now", T0, "--json").stdout)
    assert list(report) == ["tick_id", "now", "duration_ms", "clock_behind_s", "summary", "decisions",
                            "finished", "planned", "unplaced", "problems"]
    assert report["decisions"] == [
        {"execution_id": 1, "kind": "start", "reason": "fits now at priority 5", "power_w": None}]
    assert report["planned"] == [
        {"execution_id": 1, "start": "2026-06-30T06:00:00Z", "end": "2026-06-30T07:30:00Z", "late_s": None,
         "short_wh": 0.0, "missed_wh": 0.0, "earliest_end": None}]
    from reconcile.shell.tick import run_tick

    engine = make_engine(f"sqlite:///{washer}")
    for minute in range(1, 90):  # the timer runs on: a run's progress counts only time a tick covered
        run_tick(engine=engine, now=datetime.fromisoformat("2026-06-30T06:00Z") + timedelta(minutes=minute))
    engine.dispose()
    finished = json.loads(wattplan("tick", "--now", "2026-06-30T10:00", "--json").stdout)
    assert finished["finished"] == [{"execution_id": 1, "ended_at": "2026-06-30T07:30:00Z"}]
    assert finished["decisions"] == [
        {"execution_id": 1, "kind": "stop", "reason": "profile complete", "power_w": None}]


@pytest.mark.parametrize(("command", "said", "why"), [
    ("done", "marked done execution #1; the next tick tells its appliance to stop", "reported done"),
    ("cancel", "cancelled execution #1; the next tick tells its appliance to stop", "cancelled by the user"),
])
def test_ending_a_running_execution_stops_it_at_the_next_tick(washer, command, said, why):
    wattplan("enqueue", "washer", "--now", T0)
    tick()
    assert wattplan(command, "1", "--now", "2026-06-30T08:20").stdout == said + "\n"
    report = json.loads(wattplan("tick", "--now", "2026-06-30T08:21", "--json").stdout)
    assert report["decisions"] == [{"execution_id": 1, "kind": "stop", "reason": why, "power_w": None}]
    assert json.loads(wattplan("tick", "--now", "2026-06-30T08:22", "--json").stdout)["decisions"] == []


@pytest.mark.parametrize("command", ["done", "cancel"])
def test_ending_a_run_whose_program_was_already_over_records_its_completion(washer, command):
    """No tick ran between the program's end (09:30) and the user's word (10:00): the state machine
    records what happened, a completion at 09:30, and the next tick still stops the appliance."""
    from reconcile.shell.tick import run_tick

    wattplan("enqueue", "washer", "--now", T0)
    tick()
    engine = make_engine(f"sqlite:///{washer}")
    for minute in range(1, 90):  # ticks until 09:29: the run is covered until 09:31, past its end
        run_tick(engine=engine, now=datetime.fromisoformat("2026-06-30T06:00Z") + timedelta(minutes=minute))
    engine.dispose()
    assert wattplan(command, "1", "--now", "2026-06-30T10:00").stdout == (
        "execution #1 had already finished its program at 09:30: recorded completed; "
        "the next tick tells its appliance to stop\n")
    report = json.loads(wattplan("tick", "--now", "2026-06-30T10:01", "--json").stdout)
    assert report["decisions"] == [
        {"execution_id": 1, "kind": "stop", "reason": "profile complete", "power_w": None}]
    run = json.loads(wattplan("list", "--all", "--json").stdout)[0]
    assert (run["state"], run["end_reason"], run["ended_at"]) == ("finished", "completed", "2026-06-30T07:30:00Z")


def test_status_shows_runs_in_the_home_timezone(heater):
    wattplan("enqueue", "washer", "--now", T0)
    wattplan("enqueue", "heater", "--by", "12:00", "--now", T0)
    tick()
    result = wattplan("status", "--now", "2026-06-30T08:30")
    assert lines(result.stdout).splitlines()[1:] == [
        "id  appliance  program  state        prio  start      end        late  note",
        "1   washer     eco      running 33%  5     Tue 08:00  Tue 09:30  -",
        "2   heater     boost    pending      3     Tue 09:30  Tue 10:00  -"]
    assert result.stdout.startswith("limit 4.6kW, reserve 300W, Europe/Berlin, asap; last tick #1 planned at "
                                    "Tue 08:00, ran ")
    view = json.loads(wattplan("status", "--json", "--now", "2026-06-30T08:30").stdout)
    assert list(view) == ["home", "last_tick", "executions"]
    assert view["home"] == {"limit_w": 4600.0, "timezone": "Europe/Berlin", "slot_s": 60, "horizon_s": 86400,
                            "reserve_w": 300.0, "objective": "asap"}
    assert list(view["last_tick"]) == ["id", "now", "ran_at", "duration_ms", "decisions", "finished",
                                       "planned", "unplaced", "problems"]
    assert [(e["id"], e["planned_start"], e["planned_end"]) for e in view["executions"]] == [
        (1, "2026-06-30T06:00:00Z", "2026-06-30T07:30:00Z"),
        (2, "2026-06-30T07:30:00Z", "2026-06-30T08:00:00Z")]


def test_status_check_is_stale_when_the_last_tick_is_older_than_max_age(washer):
    assert error("status", "--check", code=5) == "stale: no tick has run yet\n"
    tick()
    (ran_at,) = rows(washer, "SELECT ran_at FROM tick")[0]
    ran = datetime.fromisoformat(ran_at)
    fresh = wattplan("status", "--check", "--now", (ran + timedelta(seconds=90)).isoformat() + "+00:00")
    assert fresh.stdout == "ok: last tick #1 ran 1m30s ago\n"
    late = (ran + timedelta(minutes=10)).isoformat() + "+00:00"
    assert error("status", "--check", "--now", late, code=5) == (
        "stale: last tick #1 ran 10m ago, more than 2m\n")
    patient = wattplan("status", "--check", "--max-age", "15m", "--now", late)
    assert patient.stdout == "ok: last tick #1 ran 10m ago\n"


def test_timetable_charts_planned_load_against_capacity(heater):
    wattplan("enqueue", "washer", "--now", T0)
    wattplan("enqueue", "heater", "--now", T0)
    tick()
    assert lines(wattplan("timetable", "--hours", "2").stdout) == (
        "from       load █ and capacity │ (full width 4.6kW)  load  capacity\n"
        "Tue 08:00  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:05  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:10  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:15  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:20  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:25  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:30  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:35  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:40  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:45  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:50  █████████████████                   │     2kW   4.3kW\n"
        "Tue 08:55  █████████████████                   │     2kW   4.3kW\n"
        "Tue 09:00  █████████████████                   │     2kW   4.3kW\n"
        "Tue 09:05  █████████████████                   │     2kW   4.3kW\n"
        "Tue 09:10  █████████████████                   │     2kW   4.3kW\n"
        "Tue 09:15  █████████████████                   │     2kW   4.3kW\n"
        "Tue 09:20  █████████████████                   │     2kW   4.3kW\n"
        "Tue 09:25  █████████████████                   │     2kW   4.3kW\n"
        "Tue 09:30  ██████████████████████████          │     3kW   4.3kW\n"
        "Tue 09:35  ██████████████████████████          │     3kW   4.3kW\n"
        "Tue 09:40  ██████████████████████████          │     3kW   4.3kW\n"
        "Tue 09:45  ██████████████████████████          │     3kW   4.3kW\n"
        "Tue 09:50  ██████████████████████████          │     3kW   4.3kW\n"
        "Tue 09:55  ██████████████████████████          │     3kW   4.3kW\n"
        "execution  appliance  program  stretch  from       to         energy    peak\n"
        "#1         washer     eco      1        Tue 08:00  Tue 09:30  3.00 kWh  2kW\n"
        "#2         heater     boost    1        Tue 09:30  Tue 10:00  1.50 kWh  3kW\n")
    view = json.loads(wattplan("timetable", "--hours", "2", "--json").stdout)
    assert list(view) == ["home", "tick", "slots", "entries"]
    assert len(view["slots"]) == 120
    assert view["slots"][0] == {"start": "2026-06-30T06:00:00Z", "end": "2026-06-30T06:01:00Z",
                                "planned_w": 2000.0, "energy_wh": 33.333, "capacity_w": 4300.0}
    assert view["entries"][1] == {"execution_id": 2, "appliance": "heater", "program": "boost", "seq": 0,
                                  "start": "2026-06-30T07:30:00Z", "end": "2026-06-30T08:00:00Z",
                                  "energy_wh": 1500.0, "peak_w": 3000.0}


def test_timetable_before_any_tick_says_so(washer):
    assert wattplan("timetable").stdout == "no plan yet: run `wattplan tick`\n"


def test_decisions_and_state_offer_only_valid_decisions(heater):
    wattplan("enqueue", "washer", "--now", T0)
    tick()
    decided = json.loads(wattplan("decisions", "--now", "2026-06-30T08:01", "--json").stdout)
    assert decided == [{"id": 1, "tick_id": 1, "execution_id": 1, "appliance": "washer", "program": "eco",
                        "kind": "start", "at": "2026-06-30T06:00:00Z", "valid_until": "2026-06-30T06:02:00Z",
                        "reason": "fits now at priority 5", "power_w": None}]
    pending = wattplan("decisions", "--pending", "--now", "2026-06-30T08:01", "--json")
    assert json.loads(pending.stdout) == decided
    assert json.loads(wattplan("decisions", "--pending", "--now", "2026-06-30T08:03", "--json").stdout) == []
    assert json.loads(wattplan("state", "--now", "2026-06-30T08:01", "--json").stdout) == [
        {"appliance": "heater", "should_run": False, "execution_id": None, "decision": None,
         "valid_until": "2026-06-30T06:02:00Z", "reason": "nothing to run", "power_w": None},
        {"appliance": "washer", "should_run": True, "execution_id": 1, "decision": "start",
         "valid_until": "2026-06-30T06:02:00Z", "reason": "execution #1 is running", "power_w": None}]
    assert lines(wattplan("state", "--now", "2026-06-30T08:01").stdout) == (
        "appliance  should            decision  valid until  why\n"
        "heater     off               -         Tue 08:02    nothing to run\n"
        "washer     run execution #1  start     Tue 08:02    execution #1 is running\n")


def test_state_without_a_fresh_tick_runs_nothing_and_exits_stale(washer):
    wattplan("enqueue", "washer", "--now", T0)
    tick()
    result = wattplan("state", "--now", "2026-06-30T08:05", "--json", code=5)
    assert json.loads(result.stdout) == [
        {"appliance": "washer", "should_run": False, "execution_id": 1, "decision": None,
         "valid_until": "2026-06-30T06:02:00Z",
         "reason": "stale: the last tick planned at 2026-06-30T06:00:00Z; act on nothing", "power_w": None}]
    tick("2026-06-30T08:05")  # a fresh tick tells the washer, off since 08:02, to resume where it was
    state = json.loads(wattplan("state", "--now", "2026-06-30T08:06", "--json").stdout)
    assert [(s["should_run"], s["decision"], s["valid_until"]) for s in state] == [
        (True, "resume", "2026-06-30T06:07:00Z")]


# --- simulation ---------------------------------------------------------------------------------


def test_simulate_replays_a_scenario_file_and_writes_the_picture(tmp_path):
    from pathlib import Path

    tiny = Path(__file__).resolve().parents[1] / "reconcile" / "simulation" / "scenarios" / "tiny.toml"
    picture = tmp_path / "tiny.svg"
    result = json.loads(wattplan("simulate", tiny, "--plot", picture, "--json").stdout)
    assert (result["scenario"], result["policy"]) == ("tiny", "wattplan")
    assert result["metrics"]["minutes_above_limit"] == 0
    assert picture.read_text().startswith("<svg")


def test_simulate_errors_are_one_line(tmp_path):
    assert error("simulate", tmp_path / "none.toml") == (
        "error: scenario none.toml: cannot read: No such file or directory\n")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 2\n")
    assert error("simulate", bad) == (
        "error: scenario bad.toml: version: must be 1 (the only scenario version this wattplan reads), "
        "got 2\n")
