"""Time faults, end to end with the real `wattplan` console script: a clock that moves back,
daylight-saving change days, and decisions past `valid_until`.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reconcile.errors import ExitStatus
from reconcile.shell import catalog, views
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.migrate import upgrade
from reconcile.shell.tick import run_tick
from reconcile.units import parse_time
from tests.fault_cases import WATTPLAN, T, at, household_in, wattplan
from tests.workers import check_database, query

pytestmark = pytest.mark.skipif(not WATTPLAN.exists(), reason="no wattplan console script: pip install -e .")


@pytest.fixture
def db(tmp_path) -> Path:
    return household_in(tmp_path)


# --- a clock that moves back -----------------------------------------------------------------


def tick_each_minute(db: Path, start: datetime, end: datetime) -> None:
    """The timer running: in-process ticks a minute apart from `start` until before `end` (a run's
    progress counts only time a tick covered: two minutes past each one)."""
    engine = make_engine(f"sqlite:///{db}")
    while start < end:
        run_tick(engine=engine, now=start)
        start += timedelta(minutes=1)
    engine.dispose()


def test_a_clock_moving_back_starts_nothing_twice_and_no_duration_is_negative(db):
    behind = wattplan(db, "tick", "--now", at(T - timedelta(hours=1)))
    assert behind.returncode == 0
    assert "no decisions" in behind.stdout and "clock 3600s behind last tick" in behind.stdout
    late = wattplan(db, "enqueue", "heater", "--now", at(T - timedelta(minutes=30))).stdout.strip()
    assert wattplan(db, "tick", "--now", at(T - timedelta(minutes=59))).returncode == 0
    assert wattplan(db, "done", "1", "--now", at(T - timedelta(hours=2))).returncode == 0  # before it started
    previous = T
    for minutes in (1, 31, 62, 125):
        tick_each_minute(db, previous + timedelta(minutes=1), T + timedelta(minutes=minutes))
        assert wattplan(db, "tick", "--now", at(T + timedelta(minutes=minutes))).returncode == 0
        previous = T + timedelta(minutes=minutes)
    check_database(db)  # no execution started twice; no negative progress or duration
    nows = [now for (now,) in query(db, "SELECT now FROM tick ORDER BY id")]
    (washer,) = query(db, "SELECT started_at, ended_at, progress_s FROM execution WHERE id = 1")
    starts = query(db, "SELECT execution_id, at FROM decision WHERE kind = 'start' ORDER BY id")
    assert nows == sorted(nows)  # a tick never plans before the one before it
    assert washer == ("2026-06-30 07:00:00.000000", "2026-06-30 07:00:00.000000", 0.0)  # ended as it began
    assert sorted(execution_id for execution_id, _ in starts) == [1, 2, int(late)]  # each once


# --- daylight-saving change days -------------------------------------------------------------

# (zone, local now, --by, the instant it means): the spring gap and the autumn repeat in both zones.
BY_ACROSS_A_CHANGE = [
    ("Europe/Lisbon", "2026-03-29T00:30", "06:00", "2026-03-29T05:00+00:00"),  # WET -> WEST at 01:00
    ("Europe/Lisbon", "2026-03-29T00:30", "01:30", "2026-03-29T01:30+00:00"),  # in the gap: 02:30 WEST
    ("Europe/Lisbon", "2026-10-25T00:30", "06:00", "2026-10-25T06:00+00:00"),  # WEST -> WET at 02:00
    ("Europe/Lisbon", "2026-10-25T00:30", "01:30", "2026-10-25T00:30+00:00"),  # repeated: the first one
    ("Europe/Berlin", "2026-03-29T01:30", "06:00", "2026-03-29T04:00+00:00"),  # CET -> CEST at 02:00
    ("Europe/Berlin", "2026-03-29T01:30", "02:30", "2026-03-29T01:30+00:00"),  # in the gap: 03:30 CEST
    ("Europe/Berlin", "2026-10-25T01:30", "06:00", "2026-10-25T05:00+00:00"),  # CEST -> CET at 03:00
    ("Europe/Berlin", "2026-10-25T01:30", "02:30", "2026-10-25T00:30+00:00"),  # repeated: the first one
]


@pytest.mark.parametrize(("zone", "local_now", "by", "expected"), BY_ACROSS_A_CHANGE)
def test_hh_mm_on_a_change_day_is_the_next_such_wall_time_in_utc(zone, local_now, by, expected):
    now = datetime.fromisoformat(local_now).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert parse_time(by, now=now, zone=ZoneInfo(zone)) == datetime.fromisoformat(expected)


@pytest.mark.parametrize(("zone", "start", "by", "latest_end", "ends"), [
    # Lisbon springs forward at 01:00 UTC: a 2 h run from 00:30 local ends at 03:30 local, 2 h later.
    ("Europe/Lisbon", "2026-03-29T00:30", "06:00", "2026-03-29T05:00:00Z", datetime(2026, 3, 29, 2, 30,
                                                                                   tzinfo=UTC)),
    # Berlin falls back at 01:00 UTC: a 2 h run from 01:30 CEST ends at 02:30 CET, 2 h later.
    ("Europe/Berlin", "2026-10-25T01:30", "06:00", "2026-10-25T05:00:00Z", datetime(2026, 10, 25, 1, 30,
                                                                                   tzinfo=UTC)),
])
def test_a_run_across_a_daylight_saving_change_lasts_its_real_duration(tmp_path, zone, start, by, latest_end,
                                                                       ends):
    db = tmp_path / "wattplan.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with transaction(engine) as s:
        catalog.init_home(s, now=T, limit_w=4600, timezone=zone)
        catalog.add_appliance(s, now=T, name="heater")
        catalog.add_profile(s, now=T, appliance="heater", name="std", slot_s=3600, watts=[1000.0, 1000.0])
    engine.dispose()
    assert wattplan(db, "enqueue", "heater", "--now", start, "--by", by).stdout == "1\n"
    assert json.loads(wattplan(db, "list", "--json").stdout)[0]["latest_end"] == latest_end
    assert wattplan(db, "tick", "--now", start).stdout.count("1 start") == 1
    tick_each_minute(db, ends - timedelta(minutes=119), ends - timedelta(minutes=1))
    before_end = wattplan(db, "tick", "--now", at(ends - timedelta(minutes=1)))
    assert "; 0 finished" in before_end.stdout  # not an hour early
    assert "1 finished" in wattplan(db, "tick", "--now", at(ends + timedelta(minutes=1))).stdout
    (run,) = json.loads(wattplan(db, "list", "--all", "--json").stdout)
    began, ended = (datetime.fromisoformat(run[key]) for key in ("started_at", "ended_at"))
    assert (ended - began, ended) == (timedelta(hours=2), ends)


# --- decisions past valid_until --------------------------------------------------------------


def test_no_decision_past_its_valid_until_is_ever_offered(db):
    """Minute ticks with gaps; at every 20 s between, `pending` and `state` offer only valid decisions."""
    engine = make_engine(f"sqlite:///{db}", write=False)
    writer = make_engine(f"sqlite:///{db}")
    moments = [T + timedelta(minutes=m) for m in (1, 2, 3, 7, 8, 20, 21, 45, 46, 47, 95)]
    offered = stale_seen = 0
    for tick_at, until in zip(moments, [*moments[1:], moments[-1] + timedelta(minutes=5)], strict=True):
        run_tick(engine=writer, now=tick_at)
        now = tick_at
        while now < until:
            with transaction(engine) as s:
                pending = views.decisions(s, now=now, pending=True)
                states, fresh = views.state(s, now=now)
            assert all(d.valid_until > now for d in pending), (now, pending)
            assert fresh or not any(row.should_run or row.decision for row in states), (now, states)
            offered += len(pending)
            stale_seen += not fresh
            now += timedelta(seconds=20)
    assert offered and stale_seen  # both sides of valid_until were looked at
    writer.dispose()
    engine.dispose()
    late = at(moments[-1] + timedelta(minutes=2, seconds=1))  # just past the newest decisions' validity
    assert json.loads(wattplan(db, "decisions", "--pending", "--now", late, "--json").stdout) == []
    stale = wattplan(db, "state", "--now", late, "--json")
    assert stale.returncode == ExitStatus.STALE
    assert not any(row["should_run"] or row["decision"] for row in json.loads(stale.stdout))
