"""`wattplan plan SCENARIO`: plan a scenario file once at its start, every request known (what-if)."""

import time
from pathlib import Path
from typing import Annotated

import typer

from reconcile.commands.base import Json, Panel, emit, option
from reconcile.errors import ReconcileError

PANEL = Panel("Try it out")
PLANNERS = ("greedy", "optimal")


@PANEL.command("plan")
def plan_scenario(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="A scenario file (docs/scenario.md).")],
    planner: Annotated[str, option("NAME", "greedy: wattplan's planner; optimal: the exact one (the optimal "
                                            "extra).", "greedy")] = "greedy",
    as_json: Json = False,
) -> None:
    """Plan a scenario once at its start with every request known: placements, unplaced and late runs, cost, peak."""
    from reconcile.simulation.scenario import load_scenario
    from reconcile.simulation.what_if import snapshot_at_start, totals

    if planner not in PLANNERS:
        raise ReconcileError(f"--planner must be greedy or optimal, got {planner!r}")
    loaded = load_scenario(scenario)
    known = snapshot_at_start(loaded, planner=planner)
    plan_at = _planner(planner)
    started = time.perf_counter()
    result = plan_at(known.snapshot, loaded.start)
    seconds = time.perf_counter() - started
    data = _as_data(loaded, known, result, totals(known.snapshot, result), planner, seconds)
    emit(data, as_json, _table(data, loaded.home.timezone))


def _planner(name: str):
    if name == "optimal":
        from reconcile.shell.optimal import plan_optimal, require_solver

        require_solver()  # one line saying how to install it, rather than the greedy fallback
        return plan_optimal
    from reconcile.planner.plan import plan

    return plan


def _as_data(scenario, known, result, sums, planner: str, seconds: float) -> dict:
    runs = {run.id: run for run in known.snapshot.runs}

    def about(execution_id: int) -> dict:
        run = runs[execution_id]
        return {"execution_id": execution_id, "label": known.labels.get(execution_id),
                "appliance": run.appliance, "program": run.program, "latest_end": run.latest_end}

    placed = [{**about(p.execution_id), "start": p.start, "end": p.end, "late_s": p.late_s,
               "short_wh": p.short_wh, "missed_wh": p.missed_wh, "earliest_end": p.earliest_end}
              for p in result.placements]
    return {
        "scenario": scenario.name, "planner": planner, "now": result.now, "planning_ms": round(seconds * 1000, 2),
        "cost": sums.cost, "imported_wh": sums.imported_wh, "peak_w": sums.peak_w, "limit_w": scenario.home.limit_w,
        "placements": placed,
        "unplaced": [{**about(u.execution_id), "reason": u.reason, "missed_wh": u.missed_wh}
                     for u in result.unplaced],
        "late": [p["execution_id"] for p in placed if p["late_s"] or p["short_wh"]],
    }


def _table(data: dict, timezone: str):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from reconcile.presentation.render import duration, when
    from reconcile.units import parse_zone

    zone = parse_zone(timezone)
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("id", "request", "appliance", "start", "end", "late", "missed"):
        table.add_column(column, no_wrap=True)
    for p in data["placements"]:
        missed = f"{p['missed_wh'] / 1000:.2f} kWh" if p["missed_wh"] else ""
        if p["short_wh"]:
            missed += f" (short {p['short_wh'] / 1000:.2f} kWh, ends {when(p['earliest_end'], zone)} at the earliest)"
        table.add_row(str(p["execution_id"]), p["label"] or "", f"{p['appliance']} {p['program']}",
                      when(p["start"], zone), when(p["end"], zone), duration(p["late_s"]), missed.strip())
    lines = [table]
    for u in data["unplaced"]:
        lines.append(Text(f"unplaced #{u['execution_id']} {u['label'] or ''}: {u['reason']} "
                          f"(misses {u['missed_wh'] / 1000:.2f} kWh)"))
    lines.append(Text(f"{data['planner']} plan at {when(data['now'], zone)}: cost {data['cost']:.4f}, "
                      f"import {data['imported_wh'] / 1000:.2f} kWh, peak {data['peak_w']:.0f} W of "
                      f"{data['limit_w']:.0f} W, {len(data['late'])} late or short, "
                      f"planned in {data['planning_ms']:.1f} ms"))
    return Group(*lines)
