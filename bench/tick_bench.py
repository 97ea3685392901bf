"""The tick end to end: in process, and as the whole `wattplan tick` process.

Run: .venv/bin/python bench/tick_bench.py [--runs 15]

1. In process: `run_tick` on the sample home with its four runs queued (median of --runs ticks,
   each at a new minute so every tick does real work).
2. Whole process: `wattplan tick` against `python -c "import sqlmodel, typer, rich"`, run
   alternately so both see the same machine load; medians and the ratio (budget: ≤ 1.3×).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from reconcile.shell.db import make_engine
from reconcile.shell.tick import run_tick

BIN = Path(sys.executable).parent
T0 = "2026-06-30T05:30:00+00:00"


def wattplan(db: Path, *args: str) -> str:
    done = subprocess.run([BIN / "wattplan", "--db", str(db), *args], capture_output=True, text=True, check=True)
    return done.stdout


def sample_db(directory: Path) -> Path:
    db = directory / "bench.db"
    wattplan(db, "init", "--sample")
    for appliance in ("washer", "dryer", "dishwasher", "ev"):
        wattplan(db, "enqueue", appliance, "--within", "12h")
    wattplan(db, "tick", "--now", T0)
    return db


def in_process(db: Path, runs: int) -> float:
    engine = make_engine(f"sqlite:///{db}")
    now = datetime.fromisoformat(T0)
    times = []
    for minute in range(1, runs + 1):
        started = time.perf_counter()
        run_tick(engine=engine, now=now + timedelta(minutes=minute))
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def whole_process(db: Path, runs: int) -> tuple[float, float]:
    tick = [str(BIN / "wattplan"), "--db", str(db), "tick"]
    imports = [sys.executable, "-c", "import sqlmodel, typer, rich"]
    tick_times, import_times = [], []
    for _ in range(runs):
        for command, times in ((tick, tick_times), (imports, import_times)):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    return statistics.median(tick_times) * 1000, statistics.median(import_times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        db = sample_db(Path(directory))
        print(f"in-process tick, sample home, 4 runs queued: median {in_process(db, args.runs):.1f} ms")
        tick_ms, import_ms = whole_process(db, args.runs)
        print(f"`wattplan tick` process: median {tick_ms:.0f} ms")
        print(f"`python -c \"import sqlmodel, typer, rich\"`: median {import_ms:.0f} ms")
        print(f"ratio: {tick_ms / import_ms:.2f}x (budget 1.3x)")


if __name__ == "__main__":
    main()
