"""`wattplan worker`: several real worker processes share the homes of one database.

Every home is ticked once per period by exactly one worker: no home twice at once (the claim locks
its row, `FOR UPDATE SKIP LOCKED` on PostgreSQL), none skipped (the most overdue home is claimed
first). The workers are real processes started with the CLI, stopped with SIGTERM.
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
    env = {**os.environ, "WATTPLAN_DB": url, "PYTHONPATH": str(ROOT)}
    return [reaper.popen([sys.executable, "-c", "import cli; cli.main()", "worker", "--every", f"{PERIOD_S}s"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(count)]


def run_until_every_home_ticked(target, homes: int, times: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = query(target, "SELECT h.name, count(t.id) FROM home h LEFT JOIN tick t ON t.home_id = h.id "
                               "GROUP BY h.name")
        if len(counts) == homes and min(n for _, n in counts) >= times:
            return
        time.sleep(0.5)
    pytest.fail(f"not every home was ticked {times} times in {timeout_s:.0f} s: {sorted(counts)}")


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
