"""The exact model's modulating runs (EV chargers): a power column per slot. PURE.

A modulating run's power in slot k is 0 or in [min, max] (semi-continuous); with steps it is
min × u + step × m, u binary (on), m an integer 0..(max − min) / step that is 0 when u is. The
power enters the slot's capacity row as it is (W) and its import row as energy (W × seconds).
The energy asked for is met, or the rest is short at a penalty per Wh that outweighs any
price; power after the deadline costs the late penalty per slot at full power. Decoded, the
columns become the same placements as the greedy `planner.modulating` makes.
"""

import math

from reconcile.planner.domain import Run
from reconcile.planner.grid import EPS
from reconcile.planner.modulating import placement_from
from reconcile.planner.objectives import window_end
from reconcile.planner.states import progress_at

SHORT_PER_WH = 1e4  # currency per Wh not delivered at all: more than any lateness of it


def add_modulating(model, capacity: list[float], run: Run, now: float, late_per_slot: float) -> bool:
    """The power columns of `run` (returns False when no slot can hold its minimum)."""
    grid = model.grid
    done = progress_at(run, now)
    need_wh = (run.shape.duration_s - done) * run.max_power_w / 3600
    if need_wh <= EPS:
        return False
    lo = grid.slot_at_or_after(run.earliest_start.timestamp())
    end = min(window_end(grid, run), grid.horizon)
    powers: dict[int, tuple] = {}  # slot -> (power terms [(column, W per unit)], the columns to warm start)
    for k in range(lo, grid.horizon):
        top = min(run.max_power_w, capacity[k])
        if top < run.min_power_w - EPS:
            continue
        hours = (grid.slot_s - (grid.lead if k == 0 else 0.0)) / 3600
        late = late_per_slot / (run.max_power_w * hours) if k >= end else 0.0  # per Wh after the deadline
        powers[k] = _power_columns(model, run, top, late * hours)
        for column, watts in powers[k][0]:
            model.draws(k, column, watts, watts * hours)
    if not powers:
        return False
    short = model.var(SHORT_PER_WH, math.inf, integer=False)
    hours = {k: (grid.slot_s - (grid.lead if k == 0 else 0.0)) / 3600 for k in powers}
    model.row(need_wh, math.inf, [(c, w * hours[k]) for k, (terms, _) in powers.items() for c, w in terms]
              + [(short, 1.0)])

    def decode(values) -> list[tuple[int, float, float]]:
        return _uses(run, powers, hours, values, need_wh)

    model.power_decoders.append((run, done, decode))
    model.power_columns[run.id] = powers
    return True


def _power_columns(model, run: Run, top: float, late_per_w: float) -> tuple:
    """[(column, W per unit)] for one slot, and the columns with their unit (for a warm start)."""
    if not run.power_step_w:  # semi-continuous: 0 or [min, top]
        q = model.var(late_per_w, top, integer=False, semi_lower=run.min_power_w)
        return [(q, 1.0)], ("q", q)
    steps = math.floor((top - run.min_power_w) / run.power_step_w + 1e-9)
    u = model.var(late_per_w * run.min_power_w)
    m = model.var(late_per_w * run.power_step_w, float(steps))
    model.row(-math.inf, 0.0, [(m, 1.0), (u, -float(steps))])  # no step above the minimum while off
    return [(u, run.min_power_w), (m, run.power_step_w)], ("um", u, m)


def _uses(run: Run, powers: dict, hours: dict, values, need_wh: float) -> list[tuple[int, float, float]]:
    """(slot, power W, seconds) in slot order until the energy is in (the last slot may end early)."""
    uses = []
    for k in sorted(powers):
        power = sum(values[c] * w for c, w in powers[k][0])
        if run.power_step_w:  # the integer columns, rounded off float noise
            power = run.min_power_w * round(values[powers[k][1][1]]) + run.power_step_w * round(values[powers[k][1][2]])
        if power < run.min_power_w - 1e-6 or need_wh <= 1e-6:
            continue
        seconds = min(hours[k] * 3600, need_wh * 3600 / power)
        uses.append((k, power, seconds))
        need_wh -= power * seconds / 3600
    return uses


def warm_values(model, run_id: int, uses: list[tuple[int, float]]) -> dict[int, float]:
    """Column values of a greedy placement's (slot, power) list, for HiGHS's start."""
    values = {}
    for k, power in uses:
        columns = model.power_columns.get(run_id, {}).get(k)
        if columns is None:
            continue
        kind = columns[1]
        if kind[0] == "q":
            values[kind[1]] = power
        else:
            run = next(r for r, _done, _decode in model.power_decoders if r.id == run_id)
            values[kind[1]] = 1.0
            values[kind[2]] = round((power - run.min_power_w) / run.power_step_w)
    return values


def placements_of(model, values) -> list:
    """The modulating runs' placements the solver's column `values` stand for."""
    out = []
    for run, done, decode in model.power_decoders:
        uses = decode(values)
        if uses:
            out.append(placement_from(model.grid, run, done, uses))
    return out
