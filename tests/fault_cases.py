"""How the fault tests run wattplan: the console script as its own process, a household, checks."""

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from reconcile.shell import catalog, requests
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.migrate import upgrade
from reconcile.shell.tick import run_tick
from tests.workers import check_database, query

WATTPLAN = Path(sys.executable).parent / "wattplan"
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


def household_in(tmp_path: Path) -> Path:
    """The `db` of the fault tests: `household` in a state directory of its own."""
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
