"""`wattplan worker`: several real worker processes share the homes of one database.

Every home is ticked once per period by exactly one worker: no home twice at once (the claim locks
its row, `FOR UPDATE SKIP LOCKED` on PostgreSQL), none skipped (the most overdue home is claimed
first). The workers are real processes started with the CLI, stopped with SIGTERM. They survive
what one home's tick raises (a poisoned home) and PostgreSQL restarted under them (issue 19).

`WATTPLAN_UNDER_TEST_ROOT` runs the workers from another checkout (an old one, to see these fail).
"""

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli_home import wattplan
from tests.test_systemd_units import SYSTEMD_ANALYZE, analyze
from tests.workers import query

ROOT = Path(__file__).resolve().parents[1]
WORKER_ROOT = Path(os.environ.get("WATTPLAN_UNDER_TEST_ROOT", ROOT))
PERIOD_S = 2


def add_homes(count: int) -> None:
    """`count` homes h0… (3.45–6.9 kW, three time zones), each with a washer run waiting."""
    zones = ("Europe/Berlin", "Europe/Lisbon", "America/New_York")
    for i in range(count):
        home = ("--home", f"h{i}")
        wattplan(*home, "init", "--limit", f"{3450 + 345 * (i % 11)}W", "--timezone", zones[i % 3])
        wattplan(*home, "appliance", "add", "washer", "--interruptible")
        wattplan(*home, "profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h30m")
        wattplan(*home, "enqueue", "washer", "eco")


def start_workers(reaper, url: str, count: int) -> list[subprocess.Popen]:
    env = {**os.environ, "WATTPLAN_DB": url, "PYTHONPATH": str(WORKER_ROOT)}
    code = f"import sys; sys.path.insert(0, {str(WORKER_ROOT)!r}); import cli; cli.main()"
    return [reaper.popen([sys.executable, "-c", code, "worker", "--every", f"{PERIOD_S}s"],
                         cwd=WORKER_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(count)]


def tick_counts(target) -> dict[str, int]:
    return dict(query(target, "SELECT h.name, count(t.id) FROM home h LEFT JOIN tick t ON t.home_id = h.id "
                              "GROUP BY h.name"))


def run_until_every_home_ticked(target, homes: int, times: int, timeout_s: float = 120,
                                workers: list[subprocess.Popen] = (), but: tuple[str, ...] = ()) -> dict:
    """Wait until each home (but `but`) has `times` ticks; fail at once if a worker exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        exited = [w.returncode for w in workers if w.poll() is not None]
        if exited:
            pytest.fail(f"{len(exited)} of {len(workers)} workers exited (codes {exited}): "
                        f"{workers[0].stderr.read()[-1500:] if workers[0].poll() is not None else ''}")
        try:
            counts = tick_counts(target)
        except Exception:  # noqa: BLE001 -- the server may be restarting: ask again
            counts = {}
        ticked = [n for name, n in counts.items() if name not in but]
        if len(counts) == homes and min(ticked) >= times:
            return counts
        time.sleep(0.5)
    pytest.fail(f"not every home was ticked {times} times in {timeout_s:.0f} s: {sorted(counts.items())}")


def stop(workers: list[subprocess.Popen]) -> list[str]:
    """SIGTERM each worker: it finishes the home it ticks and exits 0; their stdout lines."""
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    lines = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert (worker.returncode, err) == (0, ""), err
        lines += out.splitlines()
    return lines


def check_shared(target, lines: list[str], homes: int) -> None:
    """Each home's ticks are a period apart (never two in one period: never twice at once), and
    every home-tick a worker reported is a tick in the database."""
    ticks = query(target, "SELECT h.name, t.id, t.ran_at FROM tick t JOIN home h ON h.id = t.home_id "
                          "ORDER BY h.name, t.id")
    by_home: dict[str, list] = {}
    for name, _id, ran_at in ticks:
        by_home.setdefault(name, []).append(ran_at if not isinstance(ran_at, str) else _parse(ran_at))
    assert len(by_home) == homes
    for name, times in by_home.items():
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert all(gap >= PERIOD_S - 1 for gap in gaps), f"{name} ticked twice in one period: {gaps}"
    reported = [line for line in lines if re.match(r"h\d+: tick \d+ at ", line)]
    assert len(reported) == len(ticks)
    assert lines[0].startswith("worker: ticking every home every") and lines[-1].startswith("worker: stopped")


def _parse(stored: str):
    return datetime.fromisoformat(stored)


def test_three_workers_share_twelve_homes_on_postgresql(pg_url, monkeypatch, reaper):
    monkeypatch.setenv("WATTPLAN_DB", pg_url)
    wattplan("db", "upgrade")
    add_homes(12)
    workers = start_workers(reaper, pg_url, 3)
    run_until_every_home_ticked(pg_url, 12, 4)
    check_shared(pg_url, stop(workers), 12)
    starts = query(pg_url, "SELECT count(*), count(DISTINCT execution_id) FROM decision WHERE kind = 'start'")
    assert starts == [(12, 12)]  # each home's washer started once, by whichever worker came first


def test_two_workers_share_homes_on_sqlite(db, reaper):
    wattplan("db", "upgrade")
    add_homes(3)
    workers = start_workers(reaper, str(db), 2)
    run_until_every_home_ticked(db, 3, 3)
    check_shared(db, stop(workers), 3)


def test_a_worker_refuses_a_period_out_of_range(db):
    wattplan("db", "upgrade")
    assert wattplan("worker", "--every", "0s", code=1).stderr == "error: --every '0s' must be longer than zero\n"
    assert wattplan("worker", "--every", "2h", code=1).stderr == "error: --every 2h must be between 1s and 1h\n"


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_the_worker_template_verifies_and_is_hardened(tmp_path):
    text = (ROOT / "systemd" / "wattplan-worker@.service").read_text()
    unit = tmp_path / "wattplan-worker@1.service"
    unit.write_text(re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={sys.executable}", text))
    verified = analyze("verify", "--recursive-errors=no", str(unit))
    assert (verified.returncode, verified.stderr) == (0, "")
    security = analyze("security", "--offline=true", str(unit))
    exposure = float(re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout).group(1))
    assert exposure <= 2.0


def test_tick_all_reads_now_in_utc_and_ticks_each_home_at_it(db):
    wattplan("db", "upgrade")
    add_homes(2)
    at = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)  # after the requests
    lines = wattplan("tick", "--all", "--now", f"{at:%Y-%m-%dT%H:%M}").stdout.splitlines()  # no offset: UTC
    assert [line.split(": tick ")[0] for line in lines] == ["h0", "h1"]
    assert all(f" at {at.isoformat()}: 1 start;" in line for line in lines), lines
    assert wattplan("tick", "--all", "--json", code=1).stderr == (
        "error: --all ticks every home: it takes neither --json nor --home\n")


def check_homes(target) -> None:
    """Whole ticks only (decision rows as counted, a duration written) and no run started twice, in
    every home (`workers.check_database`'s timetable checks assume one home)."""
    torn = query(target, """SELECT t.id FROM tick t LEFT JOIN decision d ON d.tick_id = t.id
                            GROUP BY t.id HAVING t.decisions != count(d.id) OR t.duration_ms <= 0""")
    assert torn == [], torn
    twice = query(target, "SELECT execution_id FROM decision WHERE kind = 'start' GROUP BY execution_id "
                          "HAVING count(*) > 1")
    assert twice == [], twice


def stop_all(workers: list[subprocess.Popen]) -> tuple[list[str], list[str]]:
    """SIGTERM each worker; each exits 0. (stdout lines, stderr lines) of all of them."""
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    out_lines, err_lines = [], []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err[-2000:]
        out_lines += out.splitlines()
        err_lines += err.splitlines()
    return out_lines, err_lines


@pytest.fixture
def own_server(reaper):
    """A PostgreSQL server of this test's own: it is killed and started again under the workers."""
    from tests.postgres import server_or_skip

    server = server_or_skip()
    try:
        yield server
    finally:
        server.stop()


def crash_and_restart(server, down_s: float) -> None:
    """`pg_ctl stop -m immediate` (every backend killed, no checkpoint: crash recovery at the next
    start), `down_s` of refused connections, then `pg_ctl restart` with the same options."""
    pg_ctl = str(server.bindir / "pg_ctl")
    server._run(pg_ctl, "-D", str(server.data), "-m", "immediate", "stop")
    time.sleep(down_s)
    server._run(pg_ctl, "-D", str(server.data), "-l", str(server.root / "log"), "-w", "-t", "60", "restart")


def test_workers_reconnect_with_backoff_after_postgresql_restarts_under_them(own_server, monkeypatch, reaper):
    url = own_server.create_database()
    monkeypatch.setenv("WATTPLAN_DB", url)
    wattplan("db", "upgrade")
    add_homes(6)
    workers = start_workers(reaper, url, 3)
    before = run_until_every_home_ticked(url, 6, 2, workers=workers)
    crash_and_restart(own_server, down_s=4)
    run_until_every_home_ticked(url, 6, max(before.values()) + 2, workers=workers)  # before: all 3 exited 1
    out, err = stop_all(workers)
    print("\n".join(err[:6]))
    retries = [line for line in err if line.startswith("worker: cannot reach the database (attempt ")]
    assert retries, err
    assert all(re.search(r"; retrying in \d+ s$", line) for line in retries), retries
    assert any(line.startswith("worker: the database answers again after ") for line in err), err
    unexpected = [line for line in err if not line.startswith(("worker: ", "h"))]
    assert unexpected == [], unexpected  # one line per attempt, per failed home-tick: no traceback
    check_homes(url)


DEEP = "[" * 5000 + "]" * 5000  # a JSON value the server accepts and Python's json parser cannot read


def test_three_workers_keep_ticking_every_other_home_when_one_home_is_poisoned(pg_url, monkeypatch, reaper):
    monkeypatch.setenv("WATTPLAN_DB", pg_url)
    wattplan("db", "upgrade")
    add_homes(8)
    poisoned = {"h2": "UPDATE home SET timezone = 'Nowhere/Atlantis' WHERE name = 'h2'",  # ZoneInfoNotFoundError
                "h5": f"UPDATE profile SET watts = '{DEEP}' WHERE home_id = (SELECT id FROM home WHERE name = 'h5')"}
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        for sql in poisoned.values():
            connection.execute(sql)
    workers = start_workers(reaper, pg_url, 3)
    run_until_every_home_ticked(pg_url, 8, 4, workers=workers, but=tuple(poisoned))  # before: all 3 exited 1
    out, err = stop_all(workers)
    print("\n".join(err[:4]))
    counts = tick_counts(pg_url)
    assert [counts[name] for name in poisoned] == [0, 0]  # their ticks rolled back, nothing half-written
    for name in poisoned:
        said = [line for line in err if line.startswith(f"{name}: error: ")]
        assert len(said) >= 2, err  # said once per period it was claimed, and claimed again
        assert all("the other homes are ticked" in line or "cannot be planned" in line for line in said), said
    assert all(line.startswith(tuple(f"{name}: error: " for name in poisoned)) for line in err), err
    assert len([line for line in out if re.match(r"h\d+: tick \d+ at ", line)]) == sum(counts.values())
    check_homes(pg_url)
