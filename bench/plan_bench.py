"""Planning time of the pure core: `plan(snapshot, now)` for N executions over S slots.

Run: .venv/bin/python bench/plan_bench.py [--repeat 5] [--objective asap|cheapest|solar]
Prints a markdown table (median of the repeats) for BENCHMARKS.md.
"""

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from reconcile.planner.domain import Home, Interval, Run, Shape, Snapshot
from reconcile.planner.plan import plan

NOW = datetime(2026, 6, 30, 6, 0, tzinfo=UTC)
CASES = [  # (executions, slot seconds, horizon hours)
    (1, 60, 24), (20, 60, 24), (100, 60, 24), (1000, 60, 24),
    (1, 60, 48), (20, 60, 48), (100, 60, 48), (1000, 60, 48),
    (20, 900, 48),
]


def appliance_shape(rng: random.Random, slot_s: int) -> Shape:
    """A cycle like the sample data's: a heating phase, a long low tail, a spin; 30–190 min."""
    minutes = rng.randint(30, 190)
    heat = rng.randint(5, 30)
    watts = [rng.uniform(1800, 2900) if m < heat else rng.uniform(60, 400) for m in range(minutes)]
    per = max(1, slot_s // 60)
    means = [sum(watts[i:i + per]) / per for i in range(0, minutes, per)]
    peaks = [max(watts[i:i + per]) * 1.1 for i in range(0, minutes, per)]
    return Shape(per * 60, tuple(means), tuple(peaks))


def snapshot(n: int, slot_s: int, horizon_h: int, seed: int = 1, objective: str = "asap") -> Snapshot:
    rng = random.Random(seed)
    home = Home(1, 6900.0, "Europe/Lisbon", slot_s, horizon_h * 3600, 300.0, objective)
    runs = []
    for i in range(1, n + 1):
        requested = NOW - timedelta(minutes=rng.randint(0, 600))
        interruptible = rng.random() < 0.25
        runs.append(Run(
            id=i, appliance=f"a{i}", program="p", interruptible=interruptible,
            shape=appliance_shape(rng, slot_s), requested_at=requested,
            earliest_start=NOW + timedelta(minutes=rng.choice([0, 0, 30, 120])),
            priority_class=rng.randint(1, 10), max_delay_s=rng.choice([None, 6 * 3600, 12 * 3600]),
            latest_end=NOW + timedelta(hours=rng.randint(4, horizon_h)),
            min_run_s=900 if interruptible else 0, min_pause_s=600 if interruptible else 0,
        ))
    pv = tuple(Interval(NOW.timestamp() + h * 3600, NOW.timestamp() + (h + 1) * 3600,
                        max(0.0, 3500 * (1 - abs(h - 7) / 7))) for h in range(horizon_h))
    # a day-shaped price (dear evenings, cheap nights and middays), hour by hour
    price = tuple(Interval(NOW.timestamp() + h * 3600, NOW.timestamp() + (h + 1) * 3600,
                           round(0.12 + 0.08 * ((h + 6) % 24 in range(18, 22)) - 0.05 * ((h + 6) % 24 < 6), 3))
                  for h in range(horizon_h + 8))
    return Snapshot(home=home, runs=tuple(runs), pv=pv, price=price)


def measure(n: int, slot_s: int, horizon_h: int, repeat: int, objective: str = "asap") -> tuple[float, int]:
    snap = snapshot(n, slot_s, horizon_h, objective=objective)
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = plan(snap, NOW)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, len(result.placements)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--objective", default="asap", choices=("asap", "cheapest", "solar"))
    args = parser.parse_args()
    print("| executions | slots | slot | planned | median ms |")
    print("|---:|---:|---:|---:|---:|")
    for n, slot_s, horizon_h in CASES:
        ms, placed = measure(n, slot_s, horizon_h, args.repeat, args.objective)
        print(f"| {n} | {horizon_h * 3600 // slot_s} | {slot_s // 60} min | {placed} | {ms:.2f} |")


if __name__ == "__main__":
    main()
