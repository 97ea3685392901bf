"""Issue 10, "The clock", through the command line on real SQLite files (no mocks, no real clock).

Each test reproduces a case from the issue and fails on the old rule (clamp every tick to the
newest tick's instant; count a running run's progress to whatever `now` the next tick has).
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
T = datetime(2026, 6, 30, 9, 0, tzinfo=UTC)  # the home is in UTC: what is said is what is stored
MIN = timedelta(minutes=1)


def wattplan(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def tick(moment: datetime) -> dict:
    return json.loads(wattplan("tick", "--now", at(moment), "--json").stdout)


def state(moment: datetime, code: int = 0) -> list[dict]:
    return json.loads(wattplan("state", "--now", at(moment), "--json", code=code).stdout)


def washer_run() -> dict:
    return json.loads(wattplan("list", "--all", "--json").stdout)[0]


@pytest.fixture
def washer(tmp_path, monkeypatch):
    """A 4.6 kW home in UTC with a washer (2 kW, 1 h 30 min) asked to run at 09:00."""
    monkeypatch.setenv("WATTPLAN_DB", str(tmp_path / "wattplan.db"))
    wattplan("init", "--limit", "4.6kW", "--timezone", "UTC", "--reserve", "300W")
    wattplan("appliance", "add", "washer")
    wattplan("profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h30m")
    wattplan("enqueue", "washer", "--now", at(T), "--within", "8h")
    return tmp_path / "wattplan.db"


def test_a_tick_from_tomorrow_completes_nothing_and_the_next_real_tick_plans_at_the_real_now(washer):
    """Was: the run that had run one minute was recorded complete and told to stop, later ticks
    clamped to tomorrow, and `state` said `run` for a day."""
    tick(T)
    tick(T + MIN)
    jumped = tick(T + timedelta(days=1))
    assert (jumped["finished"], [d["kind"] for d in jumped["decisions"]]) == ([], ["resume"])
    assert washer_run()["progress_s"] == 180  # the 3 minutes the T + 1 min tick vouched for, not a day
    off = state(T + 2 * MIN, code=5)  # a tick from a day ahead vouches for nothing
    assert [(s["should_run"], s["reason"]) for s in off] == [
        (False, "stale: the last tick planned at 2026-07-01T09:00:00Z; act on nothing")]
    back = tick(T + 2 * MIN)
    assert (back["now"], back["clock_behind_s"]) == ("2026-06-30T09:02:00Z", 86280.0)
    assert "; clock 86280s behind last tick: it was a jump, planned at now (" in back["summary"]
    assert [d["kind"] for d in back["decisions"]] == ["resume"]
    assert [(s["should_run"], s["execution_id"]) for s in state(T + 2 * MIN)] == [(True, 1)]
    assert tick(T + 3 * MIN)["clock_behind_s"] == 0.0  # not clamped to tomorrow
    run = washer_run()
    assert (run["state"], run["state_since"], run["progress_s"]) == ("running", "2026-06-30T09:02:00Z", 180)


def test_when_the_ticks_stop_the_books_stop_counting(washer):
    """Was: told to run at 09:00 and stale (off) from 09:02, the washer was recorded at the next
    tick, 11:00, as completed at 10:30 with its whole program done."""
    tick(T)
    assert [s["should_run"] for s in state(T + 2 * MIN, code=5)] == [False]  # stale from 09:02
    late = tick(T + timedelta(hours=2))
    assert late["finished"] == []
    assert [(d["kind"], d["reason"]) for d in late["decisions"]] == [
        ("resume", "resumes at 120s of 5400s: nothing vouched for it after 2026-06-30T09:02:00+00:00")]
    run = washer_run()
    assert (run["state"], run["progress_s"], run["ended_at"]) == ("running", 120, None)
    assert [s["should_run"] for s in state(T + timedelta(hours=2))] == [True]


def test_a_user_ending_a_run_after_the_ticks_stopped_records_only_the_covered_progress(washer):
    tick(T)
    assert wattplan("done", "1", "--now", at(T + timedelta(hours=3))).exit_code == 0
    run = washer_run()
    assert (run["state"], run["end_reason"], run["progress_s"]) == ("finished", "done", 120)


def test_a_clock_an_hour_behind_still_replays_nothing(washer):
    tick(T + timedelta(hours=1))
    behind = tick(T)
    assert (behind["now"], behind["clock_behind_s"], behind["decisions"]) == ("2026-06-30T10:00:00Z", 3600.0, [])
