"""Faults, end to end with the real `wattplan` console script in a separate process.

A read-only database, a full disk, a missing directory: one line on stderr, a documented exit
status (README, "Exit codes": 1 error, 3 no database or not migrated, 4 transient: busy or the
disk refused a write), nothing changed (`PRAGMA integrity_check` ok, every row as before), and
the next tick succeeds once the fault is gone. A clock that moves back, daylight-saving change
days, and decisions past `valid_until`.

Root ignores file modes, so "read-only" is made three ways that bind root too, each skipped with
its reason where the machine does not allow it: the immutable attribute (`chattr +i`), the file
modes with CAP_DAC_OVERRIDE and CAP_FOWNER dropped (`setpriv`), and a read-only bind mount.
A full disk is a tiny tmpfs (needs `mount`), or else a file-size limit (RLIMIT_FSIZE, SIGXFSZ
ignored): every write past it fails with EFBIG, as on a disk with no room left.
"""

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reconcile.errors import ExitStatus
from reconcile.shell import catalog, requests, views
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.migrate import upgrade
from reconcile.shell.tick import run_tick
from reconcile.units import parse_time
from tests.workers import check_database, query

WATTPLAN = Path(sys.executable).parent / "wattplan"
pytestmark = pytest.mark.skipif(not WATTPLAN.exists(), reason="no wattplan console script: pip install -e .")
T = datetime(2026, 6, 30, 7, 0, tzinfo=UTC)  # 08:00 in Lisbon
TABLES = ("home", "appliance", "profile", "execution", "decision", "tick", "timetableentry")


def at(moment: datetime) -> str:
    return moment.isoformat()


def wattplan(db: Path, *args: str, wrapper: tuple[str, ...] = (),
             preexec=None) -> subprocess.CompletedProcess:
    """`wattplan ARGS` as its own process, with WATTPLAN_DB set and nothing else from our environment."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(db.parent), "LANG": "C.UTF-8",
           "WATTPLAN_DB": str(db)}
    return subprocess.run([*wrapper, str(WATTPLAN), *args], env=env, capture_output=True, text=True,
                          timeout=60, preexec_fn=preexec, check=False)


def household(path: Path, zone: str = "Europe/Lisbon") -> Path:
    """A 4.6 kW home with a washer (2 kW, 1 h) running and a pausable heater (3 kW, 30 min) waiting."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with transaction(engine) as s:
        catalog.init_home(s, now=T, limit_w=4600, timezone=zone, reserve_w=300)
        catalog.add_appliance(s, now=T, name="washer")
        catalog.add_profile(s, now=T, appliance="washer", name="eco", slot_s=3600, watts=[2000.0])
        catalog.add_appliance(s, now=T, name="heater", interruptible=True, min_run_s=300, min_pause_s=300,
                              priority_class=3)
        catalog.add_profile(s, now=T, appliance="heater", name="boost", slot_s=1800, watts=[3000.0])
        for name in ("washer", "heater"):
            requests.enqueue(s, now=T, request=requests.Request(appliance=name))
    run_tick(engine=engine, now=T)
    engine.dispose()  # the last connection: SQLite checkpoints and removes the -wal
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    return household(state / "wattplan.db")


def snapshot(db: Path) -> dict[str, list[tuple]]:
    return {table: query(db, f"SELECT * FROM {table} ORDER BY id") for table in TABLES}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line(result: subprocess.CompletedProcess, status: int, *starts: str) -> None:
    """Failed with `status`, nothing on stdout, and one line on stderr starting with one of `starts`."""
    assert (result.returncode, result.stdout) == (status, ""), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(tuple("error: " + start for start in starts)), result.stderr


def assert_recovers(db: Path, before: dict, now: datetime) -> None:
    """Nothing changed, the file is whole, and the next tick succeeds."""
    assert snapshot(db) == before
    check_database(db)
    result = wattplan(db, "tick", "--now", at(now))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.startswith(f"tick {len(before['tick']) + 1} at {now.isoformat()}")
    check_database(db)


# --- a read-only database --------------------------------------------------------------------


@contextmanager
def immutable(db: Path):
    """`chattr +i`: not even root may write the file (needs CAP_LINUX_IMMUTABLE and ext4/xfs/btrfs…)."""
    made = subprocess.run(["chattr", "+i", str(db)], capture_output=True, text=True, check=False) \
        if shutil.which("chattr") else None
    if made is None or made.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {made.stderr.strip() if made else 'no chattr'}")
    try:
        yield db, ()
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


@contextmanager
def without_write_permission(db: Path):
    """Mode 0444 in a 0555 directory; root runs without the capabilities that bypass modes."""
    wrapper: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        wrapper = (setpriv or "setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--")
        probe = setpriv and subprocess.run([*wrapper, "true"], capture_output=True, check=False)
        if not probe or probe.returncode != 0:
            pytest.skip("root ignores file modes and setpriv cannot drop CAP_DAC_OVERRIDE here")
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        yield db, wrapper
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o660)


def unmount(path: Path) -> None:
    """Unmount, lazily if something still holds a file there: never leave a mount behind."""
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "-l", str(path)], check=True)


def mount(*args: str) -> str | None:
    """Run mount(8); None when it worked, else why not (not installed, not permitted)."""
    if shutil.which("mount") is None:
        return "mount(8) is not installed"
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else f"mount is not permitted here: {done.stderr.strip()}"


@contextmanager
def read_only_mount(db: Path):
    """The directory seen through a read-only bind mount (EROFS for everyone, root included)."""
    view = db.parent.with_name("read-only-view")
    view.mkdir()
    refused = mount("--bind", str(db.parent), str(view))
    if refused:
        pytest.skip(refused)
    try:
        assert mount("-o", "remount,ro,bind", str(view)) is None
        yield view / db.name, ()
    finally:
        unmount(view)


WRITE_REFUSED = "the database is read-only (attempt to write a readonly database); nothing was changed"
READ_ONLY = {  # SQLite cannot even open a WAL database on a read-only disk unless its -shm exists
    "immutable file": (immutable, (WRITE_REFUSED,)),
    "no write permission": (without_write_permission, (WRITE_REFUSED,)),
    "read-only mount": (read_only_mount,
                        (WRITE_REFUSED, "cannot open the database (unable to open database file")),
}


@pytest.mark.parametrize("fault", READ_ONLY)
def test_a_read_only_database_is_one_line_and_changes_nothing(db, fault):
    make_read_only, messages = READ_ONLY[fault]
    before, then = snapshot(db), T + timedelta(minutes=1)
    with make_read_only(db) as (seen, wrapper):
        for args in (["tick", "--now", at(then)], ["enqueue", "heater", "--now", at(then)]):
            assert_one_line(wattplan(seen, *args, wrapper=wrapper), ExitStatus.ERROR, *messages)
    assert_recovers(db, before, then)


# --- a full disk -----------------------------------------------------------------------------


@contextmanager
def tiny_tmpfs(db: Path):
    """The database on a 1 MiB tmpfs, filled up but for 16 KiB: too little for a tick's WAL frames.

    Yields (the database on it, no preexec, a function that frees the space)."""
    disk = db.parent.with_name("tiny-disk")
    disk.mkdir()
    refused = mount("-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(disk))
    if refused:
        pytest.skip(refused)
    try:
        copy, filler = disk / db.name, disk / "filler"
        shutil.copy2(db, copy)
        space = os.statvfs(disk)
        filler.write_bytes(b"\0" * max(0, space.f_bavail * space.f_frsize - 16 * 1024))
        yield copy, None, filler.unlink
    finally:
        unmount(disk)


@contextmanager
def file_size_limit(db: Path):
    """RLIMIT_FSIZE below the database's size: any write past 16 KiB fails with EFBIG.

    Yields (the database, a preexec that sets the limit, nothing to free: later calls have no limit)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    yield db, limit, lambda: None


FULL = {"tiny tmpfs": tiny_tmpfs, "file size limit": file_size_limit}


@pytest.mark.parametrize("fault", FULL)
def test_a_full_disk_is_one_line_and_changes_nothing(db, fault):
    before, then = snapshot(db), T + timedelta(minutes=1)
    with FULL[fault](db) as (seen, preexec, free_space):  # seen: db itself, or a copy on the tiny disk
        main_file = digest(seen)
        for args in (["tick", "--now", at(then)], ["enqueue", "heater", "--now", at(then)]):
            result = wattplan(seen, *args, preexec=preexec)
            assert_one_line(result, ExitStatus.BUSY, "the disk refused the write (")
            assert digest(seen) == main_file  # not a byte of the database itself was written
        free_space()
        assert_recovers(seen, before, then)


# --- a missing directory ---------------------------------------------------------------------


def test_a_missing_directory_is_one_line_and_not_created(db):
    before, state, then = snapshot(db), db.parent, T + timedelta(minutes=1)
    away = state.rename(state.with_name("state-unmounted"))
    try:
        for args in (["tick", "--now", at(then)], ["enqueue", "heater"], ["status", "--check"]):
            assert_one_line(wattplan(db, *args), ExitStatus.NOT_MIGRATED,
                            f"no database at {db}: create it with `wattplan init` or `wattplan db upgrade`")
        assert_one_line(wattplan(db, "db", "upgrade"), ExitStatus.ERROR,
                        f"cannot create the database: directory {state} does not exist")
        assert not state.exists()  # nothing was created in its place
    finally:
        away.rename(state)
    assert_recovers(db, before, then)


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
