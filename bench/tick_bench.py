"""The tick end to end: in process, and as the whole `wattplan tick` process.

Run: .venv/bin/python bench/tick_bench.py [--runs 15] [--pairs 15]

1. In process: `run_tick` on the sample home with its four runs queued (median of --runs ticks,
   each at a new minute so every tick does real work).
2. Whole process: `wattplan tick` (A) against `python -c "import sqlmodel, typer, rich"` (B),
   run as pairs A B A B … so both of a pair see the same machine load. The figure is the median
   of the per-pair ratios A/B (budget: ≤ 1.3×), for wall time and for CPU time (user + system,
   from the children's rusage: steadier than wall time on a busy machine).
"""

import argparse
import resource
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


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def whole_process(db: Path, pairs: int) -> dict[str, float]:
    """Medians of `pairs` paired runs: each pair is one tick process then one import baseline."""
    tick = [str(BIN / "wattplan"), "--db", str(db), "tick"]
    imports = [sys.executable, "-c", "import sqlmodel, typer, rich"]
    timed(tick), timed(imports)  # warm the page cache and the .pyc files; not counted
    rows = [(*timed(tick), *timed(imports)) for _ in range(pairs)]
    median = statistics.median
    return {
        "tick_ms": median(r[0] for r in rows) * 1000, "import_ms": median(r[2] for r in rows) * 1000,
        "wall_ratio": median(r[0] / r[2] for r in rows), "cpu_ratio": median(r[1] / r[3] for r in rows),
        "tick_cpu_ms": median(r[1] for r in rows) * 1000, "import_cpu_ms": median(r[3] for r in rows) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15, help="in-process ticks")
    parser.add_argument("--pairs", type=int, default=15, help="paired whole-process runs (at least 9)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        db = sample_db(Path(directory))
        print(f"in-process tick, sample home, 4 runs queued: median {in_process(db, args.runs):.1f} ms")
        f = whole_process(db, max(9, args.pairs))
        print(f"`wattplan tick` process: median {f['tick_ms']:.0f} ms wall, {f['tick_cpu_ms']:.0f} ms CPU")
        print(f"`python -c \"import sqlmodel, typer, rich\"`: median {f['import_ms']:.0f} ms wall, "
              f"{f['import_cpu_ms']:.0f} ms CPU")
        print(f"median of paired ratios: {f['wall_ratio']:.2f}x wall, {f['cpu_ratio']:.2f}x CPU (budget 1.3x)")


if __name__ == "__main__":
    main()
