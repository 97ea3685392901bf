"""The gap: wattplan's greedy `cheapest` plan against the exact optimum (HiGHS), on real data.

Run: .venv/bin/python bench/gap.py [--scenarios 20] [--seed 6] [--time-limit 60] [--no-joint] [--reference FILE]
     [--replans N]
Needs the optimal extra (highspy). Prints a markdown table for BENCHMARKS.md and docs/objectives.md.

`--reference FILE` keeps each scenario's exact plan's cost, lateness and status in FILE (JSON, keyed
by a digest of the scenario, so a changed generator never reuses a stale entry): the exact solve
runs once per scenario, with a long `--time-limit`, and later runs only plan the greedy side. A
reference HiGHS proved optimal stays valid whatever changes in the exact planner; one that stopped
at its time limit is only the best plan found then (`--resolve` solves those again).

Each scenario (generated from ../shared/data with a fixed seed) is one planning instant of a home
with 15-minute slots and a 24–48 h horizon:

- prices: the real Spanish PVPC hours (three days, 73 hours, €/MWh / 1000), read as one cycle
  from a random hour and repeated to cover the horizon;
- PV: one of the nine real 5 kWp days (the TMY3 ones moved from UTC−5 to UTC), scaled to a
  3–7 kWp roof, repeated each day; base load: one of the six BDEW days;
- runs: 5–18 real appliance cycles (15-minute profiles; the peak of a heating slot is the
  cycle's native peak, as in the sample scenario) that fit the limit, non-interruptible, plus
  0–2 EV sessions from the sample (their energy at a 2.3 or 3.7 kW charger, interruptible,
  15-minute minimum run and pause); random earliest starts and windows, classes 1–10.

Both planners are the product's own, called as the tick calls them: the greedy
`timetable.build_timetable` and the exact `optimal.solve`. They plan the same snapshot at the same
`now`; one function (`optimal.plan_cost`) prices both plans: per slot, price × max(0, load + base
− PV). The gap is taken on the cost of the planned runs (the plan's cost minus the cost of the
house without them), which is stricter than on the whole bill. No planner code is copied here:
what this measures is what `wattplan tick` runs.
"""

import argparse
import csv
import hashlib
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconcile.planner.domain import Home, Interval, Run, Shape, Snapshot  # noqa: E402
from reconcile.planner.plan import finish_overdue  # noqa: E402
from reconcile.planner.timetable import build_timetable  # noqa: E402
from reconcile.shell.optimal import plan_cost, solve  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SLOT = 900
START = datetime(2026, 6, 1, tzinfo=UTC)


def load_data() -> dict:
    prices = [float(r["eur_per_mwh"]) / 1000 for r in _rows("prices/pvpc_spain_hourly.csv")
              if not r["series"].startswith("pvpc_selfconsumption")]
    pv_rows = _rows("pv/pv_5kwp_15min_w.csv")
    pv = {}
    for name in pv_rows[0]:
        if name == "slot_start":
            continue
        values = [float(r[name]) for r in pv_rows]
        pv[name] = values[-20:] + values[:-20] if name.startswith("tmy3") else values  # UTC−5 → UTC
    base_rows = _rows("baseload/baseload_15min_w.csv")
    base = {name: [float(r[name]) for r in base_rows] for name in base_rows[0] if name != "slot_start"}
    profiles = [p for p in json.loads((DATA / "profiles/appliance_profiles.json").read_text())
                if p["slot_minutes"] == 15]
    ev = [r for r in _rows("ev/ochre_bev_level2_home_sessions_sample.csv")]
    return {"prices": prices, "pv": pv, "base": base, "profiles": profiles, "ev": ev}


def _rows(name: str) -> list[dict]:
    with (DATA / name).open(newline="") as f:
        return list(csv.DictReader(f))


def appliance_shape(profile: dict) -> Shape:
    watts = [float(w) for w in profile["watts"]]
    top = max(watts)
    peaks = [max(w, profile["peak_w_native"]) if w >= top / 2 else w for w in watts]
    return Shape(SLOT, tuple(watts), tuple(peaks))


def scenario(rng: random.Random, data: dict, index: int) -> tuple[Snapshot, datetime]:
    limit = rng.choice([3450.0, 4600.0, 5750.0, 6900.0])
    hours = rng.choice([24, 36, 48])
    day = START + timedelta(days=index)
    now = day + timedelta(hours=rng.randint(0, 23), minutes=rng.choice([0, 15, 30, 45]))
    home = Home(1, limit, "UTC", SLOT, hours * 3600, 0.0, "cheapest")
    span = range(-4, (hours + 8) * 4)  # slots around the horizon, tails included
    first = now - timedelta(minutes=now.minute % 15)
    prices, shift = data["prices"], rng.randrange(len(data["prices"]))
    roof = rng.uniform(0.6, 1.4)
    pv_day, base_day = data["pv"][rng.choice(list(data["pv"]))], data["base"][rng.choice(list(data["base"]))]
    price, pv, base = [], [], []
    for i in span:
        a = first + timedelta(seconds=i * SLOT)
        b, q = a + timedelta(seconds=SLOT), (a.hour * 60 + a.minute) // 15
        hour = int((a - START).total_seconds() // 3600)
        price.append(Interval(a.timestamp(), b.timestamp(), prices[(hour + shift) % len(prices)]))
        pv.append(Interval(a.timestamp(), b.timestamp(), round(pv_day[q] * roof, 1)))
        base.append(Interval(a.timestamp(), b.timestamp(), base_day[q]))
    runs = _runs(rng, data, now, hours, limit)
    return Snapshot(home=home, runs=tuple(runs), pv=tuple(pv), base=tuple(base), price=tuple(price)), now


def _runs(rng: random.Random, data: dict, now: datetime, hours: int, limit: float) -> list[Run]:
    fitting = [p for p in data["profiles"] if appliance_shape(p).peak_w <= 0.8 * limit]
    runs = []
    for _ in range(rng.randint(5, 18)):  # with the EVs: 5–20 loads
        shape = appliance_shape(rng.choice(fitting))
        runs.append(_request(rng, len(runs) + 1, shape, now, hours, interruptible=False))
    for _ in range(rng.randint(0, 2)):
        session = rng.choice(data["ev"])
        power = min(rng.choice([2300.0, 3700.0]), 0.7 * limit)
        slots = max(1, min(24, round(float(session["energy_kwh"]) * 1000 / power * 4)))  # at most 6 h
        runs.append(_request(rng, len(runs) + 1, Shape(SLOT, (power,) * slots, (power,) * slots), now, hours,
                             interruptible=True))
    return runs


def _request(rng: random.Random, run_id: int, shape: Shape, now: datetime, hours: int, *,
             interruptible: bool) -> Run:
    earliest = now + timedelta(minutes=15 * rng.choice([0, 0, 0, 4, 8, 16, 24]))
    room = hours * 3600 - (earliest - now).total_seconds() - shape.duration_s
    window = rng.uniform(0.2, 1.0) * room
    latest_end = earliest + timedelta(seconds=shape.duration_s + window)
    return Run(id=run_id, appliance=f"a{run_id}", program="p", interruptible=interruptible, shape=shape,
               requested_at=now - timedelta(minutes=rng.randint(0, 120)), earliest_start=earliest,
               priority_class=rng.randint(1, 10), latest_end=latest_end,
               max_delay_s=max(60, round(window)), min_run_s=900 if interruptible else 0,
               min_pause_s=900 if interruptible else 0)


def _timed(build, snapshot: Snapshot, runs: tuple[Run, ...], now: float, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = build(snapshot, runs, now)
        times.append(time.perf_counter() - started)
    return result, statistics.median(times)


def measure(snapshot: Snapshot, now: datetime, time_limit: float, repeat: int, known: dict | None = None,
            replans: int = 0) -> dict:
    """One scenario's figures; `known`: its stored exact reference (see `exact_reference`), or None;
    `replans`: plan again that many times at the same `now`, each with the plan before as the
    incumbent (as the tick reads it back), and price the last plan (the time is the first's)."""
    now_s = now.timestamp()
    _finished, runs = finish_overdue(snapshot.runs, now)
    (greedy, _unplaced, _grid), greedy_s = _timed(build_timetable, snapshot, runs, now_s, repeat)
    for _ in range(replans):
        greedy = build_timetable(replace(snapshot, previous=greedy), runs, now_s)[0]
    tail = max(len(r.shape.watts) for r in runs) + 8
    exact = known or exact_reference(snapshot, runs, now_s, time_limit, tail)
    empty = plan_cost(snapshot, now_s, (), runs, tail)[0]
    cost = {"greedy": plan_cost(snapshot, now_s, greedy, runs, tail)[0], "exact": exact["cost"]}
    late = {"greedy": sum(p.late_s or 0 for p in greedy), "exact": exact["late"]}
    return {"runs": len(runs), "slots": snapshot.home.horizon_s // SLOT, "empty": empty, "cost": cost,
            "late": late, "greedy_s": greedy_s, "exact_s": exact["seconds"], "status": exact["status"],
            "placed": (len(greedy), exact["placed"]), "cached": known is not None, "reference": exact}


def exact_reference(snapshot: Snapshot, runs: tuple[Run, ...], now_s: float, time_limit: float, tail: int) -> dict:
    """The exact plan's cost (`plan_cost`), lateness, runs placed and solver status: what the gap needs."""
    exact = solve(snapshot, runs, now_s, time_limit_s=time_limit)
    return {"cost": plan_cost(snapshot, now_s, exact.placements, runs, tail)[0],
            "late": sum(p.late_s or 0 for p in exact.placements), "placed": len(exact.placements),
            "status": exact.status, "seconds": exact.seconds, "time_limit": time_limit}


def proven(reference: dict) -> bool:
    """HiGHS proved the plan optimal (also when it kept the greedy start: nothing was better)."""
    return "optimal" in reference["status"] and "time limit" not in reference["status"]


def digest(snapshot: Snapshot, now: datetime) -> str:
    """A scenario's key in a reference file: its content, not its seed and index."""
    return hashlib.sha256(repr((snapshot, now.isoformat())).encode()).hexdigest()[:20]


def load_references(path: Path | None) -> dict:
    return json.loads(path.read_text()) if path and path.exists() else {}


def save_references(path: Path | None, references: dict) -> None:
    if path:  # after every solve: a long reference run interrupted keeps what it has
        path.write_text(json.dumps(references, indent=1, sort_keys=True) + "\n")


def gap(plan: float, exact: float) -> float:
    return (plan - exact) / exact if exact > 1e-9 else (0.0 if plan <= 1e-9 else float("inf"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=5, help="greedy timings per scenario (median)")
    parser.add_argument("--no-joint", action="store_true",
                        help="the greedy pass alone, without the joint placement pass (planner/improve.py)")
    parser.add_argument("--reference", type=Path, help="JSON file of exact references: read, and extended")
    parser.add_argument("--resolve", action="store_true", help="solve again the references not proven optimal")
    parser.add_argument("--replans", type=int, default=0,
                        help="price the plan after this many more at the same now, each the next's incumbent")
    args = parser.parse_args()
    if args.no_joint:
        import reconcile.planner.timetable as timetable

        timetable.improve_timetable = lambda *_args, **_kwargs: None
    data, rng = load_data(), random.Random(args.seed)
    references, rows = load_references(args.reference), []
    for i in range(args.scenarios):
        snapshot, now = scenario(rng, data, i)
        key = digest(snapshot, now)
        known = stored = references.get(key)
        if known and args.resolve and not proven(known):
            known = None
        rows.append(measure(snapshot, now, args.time_limit, args.repeat, known, args.replans))
        if not known and args.reference:
            solved = rows[-1]["reference"]
            if stored and not proven(solved) and (stored["late"], stored["cost"]) < (solved["late"], solved["cost"]):
                solved = stored  # solved again, but no better than before: the gap against the better one
                rows[-1] = measure(snapshot, now, args.time_limit, args.repeat, stored, args.replans)
            references[key] = solved
            save_references(args.reference, references)
    print(f"`.venv/bin/python bench/gap.py --scenarios {args.scenarios} --seed {args.seed} "
          f"--time-limit {args.time_limit:g}{' --no-joint' if args.no_joint else ''}"
          f"{f' --reference {args.reference}' if args.reference else ''}"
          f"{f' --replans {args.replans}' if args.replans else ''}`\n")
    print("Cost of the planned runs (plan − house without them), €; gap against the exact plan "
          "(a cached reference's time and status are those of the run that solved it).\n")
    print("| # | runs | slots | greedy | exact | gap greedy | ms greedy | ms exact | exact status |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for i, r in enumerate(rows, 1):
        c = {k: v - r["empty"] for k, v in r["cost"].items()}
        print(f"| {i} | {r['runs']} | {r['slots']} | {c['greedy']:.4f} | {c['exact']:.4f} | "
              f"{gap(c['greedy'], c['exact']):.1%} | {r['greedy_s'] * 1000:.2f} | {r['exact_s'] * 1000:.0f} | "
              f"{r['status']}{' (cached)' if r['cached'] else ''}{_differences(r)} |")
    print()
    exact_ms = statistics.median(r["exact_s"] for r in rows) * 1000
    summarize(rows, "greedy", "greedy (build_timetable)", exact_ms)
    sure = [r for r in rows if proven(r["reference"])]
    print(f"- exact references proven optimal: {len(sure)} of {len(rows)} "
          f"(scenarios {', '.join(str(i) for i, r in enumerate(rows, 1) if proven(r['reference'])) or 'none'})")
    if sure and len(sure) < len(rows):
        summarize(sure, "greedy", "greedy, proven references only", exact_ms)


def summarize(rows: list[dict], name: str, label: str, exact_ms: float) -> None:
    """Gaps over the scenarios where the plan is no later than the exact one (a later plan may be
    cheaper: it is counted apart), on the whole bill and on the runs' cost."""
    same = [r for r in rows if r["late"][name] <= r["late"]["exact"]]
    bills = [gap(r["cost"][name], r["cost"]["exact"]) for r in same]
    runs = [gap(r["cost"][name] - r["empty"], r["cost"]["exact"] - r["empty"]) for r in same]
    total = gap(sum(r["cost"][name] - r["empty"] for r in same),
                sum(r["cost"]["exact"] - r["empty"] for r in same))
    ms = statistics.median(r[f"{name}_s"] for r in rows) * 1000
    print(f"- {label}: {len(rows) - len(same)} of {len(rows)} scenarios later than exact (left out); "
          f"gap on the whole bill mean {statistics.mean(bills):.2%}, worst {max(bills):.2%}; "
          f"on the runs' cost median {statistics.median(runs):.1%}, worst {max(runs):.1%}, "
          f"on their sum {total:.1%}; planning time median {ms:.2f} ms, "
          f"{exact_ms / ms:.0f}x faster than the exact solve (median {exact_ms:.0f} ms).")


def _differences(r: dict) -> str:
    notes = []
    if len(set(r["placed"])) > 1:
        notes.append(f"; placed {'/'.join(map(str, r['placed']))}")
    late = r["late"]
    if any(late.values()):
        notes.append(f"; late s {late['greedy']}/{late['exact']}")
    return "".join(notes)


if __name__ == "__main__":
    main()
