"""The greedy plan as the exact solver's start (HiGHS `setSolution`). PURE.

Every discrete column is given a value, so HiGHS only has to check the start and compute the
continuous ones (imports, energy counters), not search for a completion. A greedy plan the model
cannot hold (its pausable runs are modelled more cautiously: the peak of the rest of the
profile in every slot) is rejected by HiGHS, and the solve starts from nothing;
`start_violations` tells (the solve reports it).
"""

from reconcile.planner.domain import Placement
from reconcile.planner.exact_power import warm_values
from reconcile.planner.grid import EPS, Grid


def warm_start(model, placements: tuple[Placement, ...]) -> dict[int, float]:
    """Column values standing for `placements` (the greedy plan)."""
    grid, values = model.grid, {}
    planned = {p.execution_id: p for p in placements}
    for run_id, (kind, columns, drop) in model.choices.items():
        placement = planned.get(run_id)
        used = _slots_of(grid, placement) if placement else set()
        if kind == "block":
            used = {min(used)} if used and min(used) in columns else set()
        values.update({column: float(k in used) for k, column in columns.items()})
        values[drop] = float(not used)
        if kind == "slots":
            values.update(_stretch_values(model, run_id, columns, used, drop))
    for run_id in model.power_columns:
        if run_id in planned:
            per_slot = [(k, seg.peak_w) for seg in planned[run_id].segments for k in _slots_of_segment(grid, seg)]
            values.update(warm_values(model, run_id, per_slot))
    return values


def start_violations(model, values: dict[int, float]) -> int:
    """How many rows the start breaks among those whose every column it sets (capacity, one
    start per run, stretches): HiGHS rejects a start that breaks any, and the search then
    begins from nothing (the greedy plan stays the fallback). Rows with a column the start
    leaves to HiGHS (imports, energy counters) are not judged here."""
    broken = 0
    for lower, upper, columns, coefficients in model.rows:
        if all(c in values for c in columns):
            total = sum(values[c] * a for c, a in zip(columns, coefficients, strict=True))
            broken += total < lower - 1e-6 or total > upper + 1e-6
    return broken


def _stretch_values(model, run_id: int, on: dict[int, int], used: set[int], drop: int) -> dict[int, float]:
    """A pausable run's start, stop and done-by columns (and its drop) from the slots it runs in."""
    lo, on_now, remaining, starts, stops, done_by = model.stretches[run_id]
    values, ran, was = {}, 0.0, float(on_now)
    last = max([*on, *starts, *stops, *(d - 1 for d in done_by)], default=lo - 1)
    for k in range(lo, last + 1):
        now = float(k in used and k in on)
        if k in starts:
            values[starts[k]] = max(0.0, now - was)
        if k in stops:
            values[stops[k]] = max(0.0, was - now)
        ran += now * (model.grid.slot_s - (model.grid.lead if k == 0 else 0.0))
        if k + 1 in done_by:
            values[done_by[k + 1]] = float(ran >= remaining - EPS)
        was = now
    if ran < remaining - EPS:  # the greedy plan leaves part of it out: so does the start
        values[drop] = 1.0
    return values


def _slots_of(grid: Grid, placement: Placement) -> set[int]:
    return {k for seg in placement.segments for k in _slots_of_segment(grid, seg)}


def _slots_of_segment(grid: Grid, seg) -> range:
    return range(grid.slot_holding(seg.start.timestamp()), grid.slot_holding(seg.end.timestamp() - EPS) + 1)
