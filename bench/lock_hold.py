"""How long a tick holds SQLite's write lock with many open runs (docs/reliability.md, "Load").

    .venv/bin/python bench/lock_hold.py [--runs 1250] [--ticks 5]

A home with 50 appliances and RUNS open runs (a 24 h horizon); a probe process tries `BEGIN
IMMEDIATE` with no timeout every millisecond while ticks run one minute apart, and reports the
longest stretch the write lock stayed taken (what an enqueue racing the tick would wait for),
next to each tick's whole wall time.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconcile.shell import catalog, requests  # noqa: E402
from reconcile.shell.db import make_engine, transaction  # noqa: E402
from reconcile.shell.migrate import upgrade  # noqa: E402
from reconcile.shell.tick import run_tick  # noqa: E402

T0 = datetime(2026, 6, 30, 6, 0, tzinfo=UTC)
PROBE = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
stop, longest, since = sys.argv[2], 0.0, None
import os
while not os.path.exists(stop):
    t = time.perf_counter()
    try:
        c.execute("BEGIN IMMEDIATE"); c.execute("ROLLBACK")
        if since is not None:
            longest, since = max(longest, t - since), None
    except sqlite3.OperationalError:
        since = t if since is None else since
    time.sleep(0.001)
print(round(longest * 1000, 1))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1250)
    parser.add_argument("--ticks", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wattplan.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        with transaction(engine) as s:
            catalog.init_home(s, now=T0, limit_w=6900, timezone="Europe/Berlin")
            for i in range(50):
                catalog.add_appliance(s, now=T0, name=f"a{i}", interruptible=i % 2 == 0)
                catalog.add_profile(s, now=T0, appliance=f"a{i}", name="p", slot_s=60,
                                    watts=[100.0 + 10 * (i % 7)] * (30 + i % 5 * 15))
            for n in range(args.runs):
                requests.enqueue(s, now=T0, request=requests.Request(appliance=f"a{n % 50}"))
        stop = Path(tmp) / "stop"
        probe = subprocess.Popen([sys.executable, "-c", PROBE, str(path), str(stop)],
                                 stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        walls, locks = [], []
        try:
            for minute in range(args.ticks):
                started = time.perf_counter()
                now = T0 + timedelta(minutes=minute)
                report = run_tick(engine=make_engine(f"sqlite:///{path}"), now=now)
                walls.append(round((time.perf_counter() - started) * 1000))
                locks.append(round(getattr(report, "lock_ms", walls[-1])))
        finally:
            stop.touch()
            held = float(probe.communicate(timeout=30)[0])
        print(json.dumps({"open_runs": args.runs, "tick_wall_ms": walls, "lock_ms": locks,
                          "longest_lock_hold_ms": held}))


if __name__ == "__main__":
    main()
