"""Side by side: simulation results as a rich table and as JSON, and `wattplan demo` itself.

`result_as_dict` is the JSON form of `wattplan simulate --json` (keys documented in
docs/simulation.md, stable). `run_demo` replays the sample day under both policies with a
progress bar and writes the picture; the CLI prints `comparison_table` of what it returns.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from reconcile.presentation.svg import write_svg
from reconcile.simulation.metrics import Metrics
from reconcile.simulation.scenario import load_scenario
from reconcile.simulation.simulate import SimulationResult, simulate

DEMO_POLICIES = ("wattplan", "immediate")  # the exact planner is an optional extra: not in the demo
DEMO_SCENARIO = "sample_day.toml"
DEMO_PICTURE = "wattplan-demo.svg"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def result_as_dict(result: SimulationResult) -> dict[str, Any]:
    """JSON-ready data: times ISO 8601 UTC (`…Z`), powers W, energies kWh, durations minutes."""
    return {
        "scenario": result.scenario, "policy": result.policy, "start": _iso(result.start),
        "end": _iso(result.end), "timezone": result.timezone, "limit_w": result.limit_w,
        "metrics": metrics_as_dict(result.metrics),
        "executions": [
            {"label": e.label, "appliance": e.appliance, "program": e.program,
             "priority_class": e.priority_class, "requested_at": _iso(e.requested_at),
             "earliest_start": _iso(e.earliest_start), "latest_end": _iso(e.latest_end),
             "first_start": _iso(e.first_start),
             "wait_min": None if e.first_start is None else
             round((e.first_start - e.requested_at).total_seconds() / 60, 3),
             "ended_at": _iso(e.ended_at), "end_reason": e.end_reason, "pauses": e.pauses,
             "churn": e.churn, "decisions": e.decisions,
             "spans": [{"start": _iso(s.start), "end": _iso(s.end), "offset_s": round(s.offset_s, 3),
                        "power_w": s.power_w} for s in e.spans]}
            for e in result.executions
        ],
        "notes": list(result.notes),
    }


def metrics_as_dict(m: Metrics) -> dict[str, Any]:
    timing = m.tick_time
    return {
        "peak_import_w": round(m.peak_import_w, 1), "minutes_above_limit": m.minutes_above_limit,
        "energy_imported_kwh": round(m.energy_imported_kwh, 4),
        "consumption_kwh": round(m.consumption_kwh, 4),
        "appliance_kwh": round(m.appliance_kwh, 4), "cost": _round(m.cost, 4),
        "uncosted_kwh": round(m.uncosted_kwh, 4), "pv_kwh": round(m.pv_kwh, 4),
        "pv_self_consumption": _round(m.pv_self_consumption, 4),
        "self_sufficiency": _round(m.self_sufficiency, 4),
        "waits": [{"priority_class": w.priority_class, "runs": w.runs, "mean_min": round(w.mean_min, 3),
                   "p95_min": round(w.p95_min, 3), "max_min": round(w.max_min, 3)} for w in m.waits],
        "runs": m.runs, "never_started": m.never_started, "deadline_misses": m.deadline_misses,
        "lateness_min": round(m.lateness_min, 3), "pauses": m.pauses, "plan_churn": m.plan_churn,
        "decisions": m.decisions,
        "tick_ms": None if timing is None else {
            "ticks": timing.ticks, "mean": round(timing.mean_ms, 3), "p95": round(timing.p95_ms, 3),
            "max": round(timing.max_ms, 3)},
    }


# --- the table ---------------------------------------------------------------------------------


def _kwh(value: float) -> str:
    return f"{value:.2f} kWh"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _minutes(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def _rows(results: Sequence[SimulationResult]) -> list[tuple[str, Callable[[Metrics], str | Text]]]:
    """(label, cell) per row; labels stay short so the table fits 80 columns."""
    rows: list[tuple[str, Callable[[Metrics], str | Text]]] = [
        ("peak grid import", lambda m: f"{m.peak_import_w / 1000:.2f} kW"),
        ("minutes above limit", _above),
        ("energy imported", lambda m: _kwh(m.energy_imported_kwh)),
        ("import cost", lambda m: "–" if m.cost is None else f"{m.cost:.2f}"),
    ]
    if any(r.metrics.uncosted_kwh > 0.005 and r.metrics.cost is not None for r in results):
        rows.append(("imported, no price", lambda m: _kwh(m.uncosted_kwh)))
    rows += [
        ("PV self-consumption", lambda m: _share(m.pv_self_consumption)),
        ("self-sufficiency", lambda m: _share(m.self_sufficiency)),
    ]
    classes = sorted({w.priority_class for r in results for w in r.metrics.waits}, reverse=True)
    for klass in classes:
        rows.append((f"wait, class {klass}", lambda m, k=klass: _wait(m, k)))
    rows += [
        ("never started", lambda m: f"{m.never_started} of {m.runs}"),
        ("deadline misses", lambda m: str(m.deadline_misses) if not m.deadline_misses else
         f"{m.deadline_misses} ({_minutes(m.lateness_min)} min late)"),
        ("pauses", lambda m: str(m.pauses)),
        ("plan churn", lambda m: "–" if m.plan_churn is None else str(m.plan_churn)),
        ("decisions", lambda m: "–" if m.decisions is None else str(m.decisions)),
        ("tick time", lambda m: "–" if m.tick_time is None else
         f"{m.tick_time.mean_ms:.1f} / {m.tick_time.p95_ms:.1f} / {m.tick_time.max_ms:.0f} ms"),
    ]
    return rows


def _above(m: Metrics) -> Text:
    return Text(str(m.minutes_above_limit), style="bold green" if m.minutes_above_limit == 0 else "bold red")


def _wait(m: Metrics, klass: int) -> str:
    for w in m.waits:
        if w.priority_class == klass:
            return f"{_minutes(w.mean_min)} / {_minutes(w.p95_min)} / {_minutes(w.max_min)} min"
    return "–"


def comparison_table(results: Sequence[SimulationResult]) -> Table:
    """Metrics as rows, one column per policy."""
    first = results[0]
    zone = ZoneInfo(first.timezone)
    start, end = first.start.astimezone(zone), first.end.astimezone(zone)
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%d %b %H:%M}"
    caption = (f"{start:%d %b %H:%M} – {until} {zone.key}, limit {first.limit_w / 1000:g} kW\n"
               "wait: mean / p95 / max minutes from request to first start\n"
               "tick time: wall time of run_tick, mean / p95 / max")
    policies = " against ".join(r.policy for r in results)
    table = Table(title=f"{first.scenario}: {policies}", caption=caption, title_style="bold")
    table.add_column("metric")
    for result in results:
        table.add_column(result.policy, justify="right")
    for label, cell in _rows(results):
        table.add_row(label, *(cell(r.metrics) for r in results))
    return table


# --- the demo ----------------------------------------------------------------------------------


def run_demo(workdir: Path, console: Console, now_wall: datetime) -> tuple[list[SimulationResult], Path]:
    """The sample day under every policy, with a progress bar; the picture goes into `workdir`."""
    with resources.as_file(resources.files("reconcile.simulation.scenarios") / DEMO_SCENARIO) as path:
        scenario = load_scenario(path)
    results = []
    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {policy: bar.add_task(policy, total=None, start=False) for policy in DEMO_POLICIES}
        for policy in DEMO_POLICIES:
            task = tasks[policy]
            bar.start_task(task)

            def advance(done: int, total: int, task=task) -> None:
                bar.update(task, completed=done, total=total)

            results.append(simulate(scenario, policy=policy, progress=advance))
    zone = ZoneInfo(scenario.home.timezone)
    footer = f"wattplan demo, {now_wall.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}."
    return results, write_svg(workdir / DEMO_PICTURE, results, footer=footer)
