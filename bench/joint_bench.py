"""Planning time with and without the joint placement pass, paired in one process.

Run: .venv/bin/python bench/joint_bench.py [--repeat 15] [--big-repeat 3] [--objective cheapest]
Prints a markdown table for BENCHMARKS.md ("Joint placement and stable cost plans").

The snapshots are bench/plan_bench.py's (its 20 executions over 48 h of 15-minute slots, and 1000
over 48 h of 1-minute slots). Each repeat plans the snapshot twice, once with the pass
(`timetable.improve_timetable`, what the tick runs) and once without it, alternating, so both see
the same load on a shared machine; the table gives the median and the least of the wall times and
the least CPU time (`time.process_time`, less sensitive to other work on the machine).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import plan_bench  # noqa: E402

from reconcile.planner import timetable  # noqa: E402
from reconcile.planner.plan import plan  # noqa: E402

WITH = timetable.improve_timetable


def paired(n: int, slot_s: int, horizon_h: int, repeat: int, objective: str) -> dict[str, list[float]]:
    """Wall and CPU milliseconds of each plan, with and without the pass, alternating."""
    snapshot = plan_bench.snapshot(n, slot_s, horizon_h, objective=objective)
    times: dict[str, list[float]] = {"without": [], "with": [], "without cpu": [], "with cpu": []}
    for _ in range(repeat):
        for name, improve in (("without", lambda *_args: None), ("with", WITH)):
            timetable.improve_timetable = improve
            started, cpu = time.perf_counter(), time.process_time()
            plan(snapshot, plan_bench.NOW)
            times[name].append((time.perf_counter() - started) * 1000)
            times[f"{name} cpu"].append((time.process_time() - cpu) * 1000)
    timetable.improve_timetable = WITH
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--big-repeat", type=int, default=3)
    parser.add_argument("--objective", default="cheapest", choices=("cheapest", "solar"))
    args = parser.parse_args()
    print("| case | greedy alone: wall median / least, CPU least | greedy + joint: the same | the pass adds "
          "(wall medians; CPU leasts) |")
    print("|---|---:|---:|---:|")
    for n, slot_s, horizon_h, repeat in ((20, 900, 48, args.repeat), (1000, 60, 48, args.big_repeat)):
        t = paired(n, slot_s, horizon_h, repeat, args.objective)
        a, b = statistics.median(t["without"]), statistics.median(t["with"])
        ca, cb = min(t["without cpu"]), min(t["with cpu"])
        case = f"{n} runs × {horizon_h * 3600 // slot_s} slots ({slot_s // 60} min)"
        print(f"| {case} | {a:.1f} / {min(t['without']):.1f} ms, {ca:.1f} ms | {b:.1f} / {min(t['with']):.1f} ms,"
              f" {cb:.1f} ms | {b - a:+.1f} ms ({(b - a) / a:+.0%}); {cb - ca:+.1f} ms |")


if __name__ == "__main__":
    main()
