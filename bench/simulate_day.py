"""A simulated day of the sample home at one-minute ticks (budget: under 10 s).

Run: .venv/bin/python bench/simulate_day.py [--repeat 3] [--profile]

Simulates `reconcile/simulation/scenarios/sample_day.toml` (32 h, 1920 ticks of the real tick against a
throwaway SQLite file) under `wattplan`, `--repeat` times, and prints the best and median wall
time, ms per tick and the verdict against the budget; then the `immediate` baseline once.
`--profile` runs one more simulation under cProfile and prints where the time goes (the
functions of wattplan, by cumulative time). Wall time depends on the machine's load: compare
runs made one after the other, and look at `uptime` first.
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time

from reconcile.simulation.scenario import builtin_scenario
from reconcile.simulation.simulate import simulate, tick_instants

BUDGET_S = 10.0


def timed(policy: str) -> tuple[float, float, object]:
    """(wall s, CPU s of this process, result): CPU time is what a busy machine does not inflate."""
    scenario = builtin_scenario("sample_day")
    started, cpu = time.perf_counter(), time.process_time()
    result = simulate(scenario, policy=policy)
    return time.perf_counter() - started, time.process_time() - cpu, result


def profile() -> str:
    scenario = builtin_scenario("sample_day")
    profiler = cProfile.Profile()
    profiler.runcall(simulate, scenario, policy="wattplan")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(r"reconcile/|models/", 30)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    ticks = len(tick_instants(builtin_scenario("sample_day")))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"sample day: {ticks} ticks; load average {load:.2f} on {os.cpu_count()} CPUs")
    times, cpus = [], []
    for _ in range(args.repeat):
        seconds, cpu, result = timed("wattplan")
        times.append(seconds)
        cpus.append(cpu)
        tick = result.metrics.tick_time
        print(f"  wattplan  {seconds:6.2f} s wall ({cpu:6.2f} s CPU)  {seconds / ticks * 1000:6.2f} ms/tick; "
              f"run_tick mean {tick.mean_ms:.2f} ms, p95 {tick.p95_ms:.2f} ms, max {tick.max_ms:.2f} ms")
    best, median = min(times), statistics.median(times)
    verdict = "within" if best < BUDGET_S else "OVER"
    print(f"best {best:.2f} s, median {median:.2f} s ({best / ticks * 1000:.2f} ms/tick), "
          f"best CPU {min(cpus):.2f} s: {verdict} the {BUDGET_S:.0f} s budget")
    seconds, cpu, _ = timed("immediate")
    print(f"  immediate {seconds:6.2f} s wall ({cpu:.2f} s CPU; no ticks: the baseline)")
    if args.profile:
        print(profile())


if __name__ == "__main__":
    main()
