"""The exact reference's model: the timetable as a mixed-integer program, built and decoded.

Pure: it builds the columns and rows of the program from a snapshot, and turns the solver's
column values back into `Placement`s; `reconcile.shell.optimal` hands the model to HiGHS. The
grid, committed heads and windows are computed by the greedy planner's own code. The model
(docs/objectives.md, "The exact reference"):

- a non-interruptible run: one binary per start slot where its footprint fits the capacity left
  by committed runs; exactly one start, or a drop variable with a large penalty;
- an interruptible run: one binary per slot it may run in, drawing its mean remaining power for
  energy and the peak of its remaining profile for capacity (exact for a constant profile,
  cautious otherwise); enough slots for the rest of its profile; minimum run and pause as
  start/stop constraints, a final stretch may be shorter than the minimum run;
- per slot, the peaks placed stay within limit + PV − base − committed peaks;
- import per slot ≥ load + base − PV and ≥ 0; the objective is import × price (per kWh), plus
  a large penalty per slot late past a deadline, plus tie-breaks far below a cent: energy
  imported, then the priority-weighted start times (higher priority earlier).
"""

import math

from reconcile.planner.domain import Placement, Run, Snapshot, Unplaced
from reconcile.planner.exact_power import add_modulating, placements_of
from reconcile.planner.grid import EPS, Grid, energy_between, footprint, make_grid, peak_between, slot_count
from reconcile.planner.objectives import window_end, window_last_start
from reconcile.planner.placement import Use, contiguous_uses, misfit, occupy
from reconcile.planner.priority import priority
from reconcile.planner.states import progress_at
from reconcile.planner.timetable import committed_head, placement_of, tail_slots, why_unplaced

LATE_PER_SLOT = 100.0  # currency per slot late: any lateness costs more than any energy
DROP = 1e6  # leaving a run out costs more than any lateness
TIE_ENERGY = 1e-7  # per Wh imported: with equal cost, use own PV (as the greedy `cheapest`)
TIE_PRIORITY = 1e-6  # per priority point and horizon fraction of delay


class Model:
    """Columns (cost, bounds, integrality) and rows (bounds, sparse coefficients) of the MIP."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.cost: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.integer: list[int] = []
        self.semi: list[int] = []  # semi-continuous: 0 or in [lower, upper]
        self.rows: list[tuple[float, float, list[int], list[float]]] = []
        self.capacity_terms: dict[int, list[tuple[int, float]]] = {}
        self.energy_terms: dict[int, list[tuple[int, float]]] = {}
        self.committed: dict[int, list[Use]] = {}
        self.decoders: list = []
        self.unplaced: list[Unplaced] = []
        self.choices: dict[int, tuple] = {}  # run id -> ("block" | "slots", {slot: column}, drop column)
        self.power_decoders: list = []  # modulating runs (planner.exact_power)
        self.power_columns: dict[int, dict] = {}
        self.block_of: dict[int, int] = {}  # start column -> its run: at most one of them is 1
        self.stretches: dict[int, tuple] = {}  # pausable run -> its start/stop/done columns (exact_start)

    def var(self, cost: float = 0.0, upper: float = 1.0, integer: bool = True, semi_lower: float = 0.0) -> int:
        self.cost.append(cost)
        self.lower.append(semi_lower)
        self.upper.append(upper)
        if integer:
            self.integer.append(len(self.cost) - 1)
        elif semi_lower:
            self.semi.append(len(self.cost) - 1)
        return len(self.cost) - 1

    def row(self, lower: float, upper: float, terms: list[tuple[int, float]]) -> None:
        self.rows.append((lower, upper, [i for i, _ in terms], [c for _, c in terms]))

    def draws(self, slot: int, var: int, peak: float, energy_wh: float) -> None:
        self.capacity_terms.setdefault(slot, []).append((var, peak))
        self.energy_terms.setdefault(slot, []).append((var, energy_wh))


def _slot_seconds(grid: Grid, k: int) -> float:
    return grid.slot_s - (grid.lead if k == 0 else 0.0)


def build_model(snapshot: Snapshot, runs: tuple[Run, ...], now: float) -> Model:
    grid = make_grid(snapshot, now, tail_slots(snapshot, runs))
    model = Model(grid)
    capacity = list(grid.capacity)
    for run in runs:
        head = committed_head(grid, run, now)
        if head:
            occupy(capacity, head)
            model.committed[run.id] = head
    for run in runs:
        if run.state == "running" and not run.interruptible:
            continue
        if run.modulating:  # a power column per slot (planner.exact_power)
            if not add_modulating(model, capacity, run, now, LATE_PER_SLOT):
                model.unplaced.append(Unplaced(run.id, "no room within the planning horizon"))
            continue
        head = model.committed.get(run.id, [])
        done = head[-1].offset + head[-1].seconds if head else progress_at(run, now)
        lo = head[-1].slot + 1 if head else grid.slot_at_or_after(run.earliest_start.timestamp())
        if run.shape.duration_s - done <= EPS:
            continue
        prio = priority(run, now)
        placed = (_add_pausable(model, capacity, run, done, lo, prio) if run.interruptible
                  else _add_block(model, capacity, run, done, lo, prio))
        if not placed and not head:
            model.unplaced.append(Unplaced(run.id, why_unplaced(grid, run)))
    _add_slot_rows(model, capacity)
    return model


def _add_block(model: Model, capacity: list[float], run: Run, done: float, lo: int, prio: int) -> bool:
    grid = model.grid
    first = footprint(run.shape, done, grid.lead, grid.slot_s)
    rest = footprint(run.shape, done, 0.0, grid.slot_s)
    last = window_last_start(grid, run, done)
    starts = {}
    for k in range(lo, grid.horizon):
        peaks, energies = first if k == 0 else rest
        if k + len(peaks) > len(capacity) or misfit(capacity, k, peaks) is not None:
            continue
        cost = LATE_PER_SLOT * max(0, k - last) + TIE_PRIORITY * prio * (k - lo) / grid.horizon
        x = starts[k] = model.var(cost)
        model.block_of[x] = run.id
        for j, (peak, energy) in enumerate(zip(peaks, energies, strict=True)):
            model.draws(k + j, x, peak, energy)
    if not starts:
        return False
    drop = model.var(DROP)
    model.row(1, 1, [(x, 1.0) for x in starts.values()] + [(drop, 1.0)])
    model.choices[run.id] = ("block", starts, drop)

    def decode(values) -> list[Use]:
        for k, x in starts.items():
            if values[x] > 0.5:
                return contiguous_uses(grid, k, run.shape, done, first if k == 0 else rest)
        return []

    model.decoders.append((run.id, decode))
    return True


def _add_pausable(model: Model, capacity: list[float], run: Run, done: float, lo: int, prio: int) -> bool:
    grid, n = model.grid, len(capacity)
    remaining = run.shape.duration_s - done
    on_now = run.state == "running"
    if run.state == "paused":
        lo = max(lo, grid.slot_at_or_after(run.state_since.timestamp() + run.min_pause_s))
    peak = peak_between(run.shape, done, run.shape.duration_s)
    power_wh_s = energy_between(run.shape, done, run.shape.duration_s) / remaining  # Wh per second
    end, slots_needed = window_end(grid, run), slot_count(remaining, grid.slot_s)
    delay = TIE_PRIORITY * prio / grid.horizon / slots_needed
    fits = (k for k in range(lo, n) if capacity[k] + EPS >= peak)
    on = {k: model.var(LATE_PER_SLOT * (k >= end) + delay * (k - lo)) for k in fits}
    if not on:
        return False
    for k, y in on.items():
        model.draws(k, y, peak, power_wh_s * _slot_seconds(grid, k))
    drop = model.var(DROP)  # enough slots, or the penalty
    model.row(remaining, math.inf, [(y, _slot_seconds(grid, k)) for k, y in on.items()] + [(drop, remaining)])
    model.choices[run.id] = ("slots", on, drop)
    _stretch_rules(model, run, on, lo, n, on_now, remaining)

    def decode(values) -> list[Use]:
        uses, progress = [], done
        for k in sorted(k for k, y in on.items() if values[y] > 0.5):
            if progress >= run.shape.duration_s - EPS:
                break
            length = min(_slot_seconds(grid, k), run.shape.duration_s - progress)
            uses.append(Use(k, progress, length, peak_between(run.shape, progress, progress + length),
                            energy_between(run.shape, progress, progress + length)))
            progress += length
        return uses

    model.decoders.append((run.id, decode))
    return True


def _stretch_rules(model: Model, run: Run, on: dict[int, int], lo: int, n: int, on_now: bool,
                   remaining: float) -> None:
    """Minimum run (unless the stretch finishes the run), minimum pause, no new stretch past the
    horizon. Before `lo` the run is on when it is running now."""
    grid = model.grid
    run_slots = min(slot_count(run.min_run_s, grid.slot_s), slot_count(remaining, grid.slot_s))
    pause_slots = slot_count(run.min_pause_s, grid.slot_s)
    done_by = _done_by(model, on, lo, n, remaining) if run_slots > 1 else {}
    starts, stops = {}, {}  # the start and stop columns by slot (kept for the warm start)
    model.stretches[run.id] = (lo, on_now, remaining, starts, stops, done_by)
    for k in range(lo, n):
        # was = y[k-1]: as terms and a constant
        was, was_on = ([(on[k - 1], 1.0)] if k - 1 in on else [], 0.0) if k > lo else ([], float(on_now))
        now = [(on[k], 1.0)] if k in on else []
        if k >= grid.horizon:  # y[k] <= y[k-1]
            if now:
                model.row(-math.inf, was_on, now + [(v, -c) for v, c in was])
            continue
        if run_slots > 1 and now:  # start z >= y[k] - y[k-1]; a start runs run_slots slots or finishes
            z = starts[k] = model.var()
            model.row(-was_on, math.inf, [(z, 1.0), (on[k], -1.0)] + was)
            stop = min(n, k + run_slots)
            stretch = [(on[t], 1.0) for t in range(k, stop) if t in on]
            model.row(0.0, math.inf, stretch + [(z, -float(run_slots)), (done_by[stop], float(run_slots))])
        if pause_slots > 0 and (was or was_on):  # stop w >= y[k-1] - y[k]; a stop pauses pause_slots
            w = stops[k] = model.var()
            model.row(was_on, math.inf, [(w, 1.0)] + [(v, -c) for v, c in was] + now)
            window = [(on[t], 1.0) for t in range(k, min(n, k + pause_slots)) if t in on]
            if window:
                model.row(-math.inf, float(pause_slots), window + [(w, float(pause_slots))])


def _done_by(model: Model, on: dict[int, int], lo: int, n: int, remaining: float) -> dict[int, int]:
    """done_by[k] (k in lo+1..n), binary, may be 1 only when the whole rest ran before slot k:
    remaining × done_by[k] <= ran[k], with ran[k+1] = ran[k] + seconds of slot k if on."""
    grid, done_by = model.grid, {}
    ran = model.var(upper=0.0, integer=False)  # ran[lo] = 0
    for k in range(lo, n):
        nxt = model.var(upper=math.inf, integer=False)
        step = [(on[k], -_slot_seconds(grid, k))] if k in on else []
        model.row(0.0, 0.0, [(nxt, 1.0), (ran, -1.0)] + step)
        ran = nxt
        g = done_by[k + 1] = model.var()
        model.row(-math.inf, 0.0, [(g, remaining), (ran, -1.0)])
    return done_by


def _add_slot_rows(model: Model, capacity: list[float]) -> None:
    """Capacity and import (≥ load + base − PV, ≥ 0) for every slot something may run in."""
    grid = model.grid
    for k, terms in sorted(model.capacity_terms.items()):
        if _most(model, terms) > capacity[k] + EPS:  # else no choice of starts can break it: no row
            model.row(-math.inf, capacity[k], terms)
            # Any two draws of over half the capacity exclude each other: one row says so for all
            # of them (a clique), which the relaxation cannot spread thin as it can the sum above.
            big = [(v, 1.0) for v, peak in terms if peak > capacity[k] / 2 + EPS and model.upper[v] <= 1]
            if len({model.block_of.get(v, v) for v, _ in big}) > 1:
                model.row(-math.inf, 1.0, big)
    committed = [0.0] * len(capacity)
    for uses in model.committed.values():
        for use in uses:
            committed[use.slot] += use.energy
    for k, terms in sorted(model.energy_terms.items()):
        hours = _slot_seconds(grid, k) / 3600
        fixed = committed[k] + (grid.limit_w - grid.capacity[k]) * hours  # base − PV, Wh
        per_wh = grid.price[k] / 1000 + TIE_ENERGY
        if fixed >= 0:  # no PV surplus: the import is the load itself, priced on the columns (no row)
            for v, e in terms:
                model.cost[v] += per_wh * e
            continue
        imported = model.var(per_wh, math.inf, integer=False)
        model.row(fixed, math.inf, [(imported, 1.0)] + [(v, -e) for v, e in terms])


def _most(model: Model, terms: list[tuple[int, float]]) -> float:
    """The most a slot's capacity terms can add up to: one start per block run, every other
    column at its upper bound."""
    most, blocks = 0.0, {}
    for v, peak in terms:
        owner = model.block_of.get(v)
        if owner is None:
            most += peak * model.upper[v]
        else:
            blocks[owner] = max(blocks.get(owner, 0.0), peak)
    return most + sum(blocks.values())


def decode(model: Model, runs: tuple[Run, ...], values) -> tuple[tuple[Placement, ...], tuple[Unplaced, ...]]:
    """The placements the solver's column `values` stand for, and the runs it left out."""
    uses = dict(model.committed)
    unplaced = list(model.unplaced)
    for run_id, decode_run in model.decoders:
        rest = decode_run(values)
        if not rest and run_id not in uses:  # dropped: only when nothing else was possible
            unplaced.append(Unplaced(run_id, "no room within the planning horizon"))
        uses[run_id] = uses.get(run_id, []) + rest
    powered = {p.execution_id: p for p in placements_of(model, values)}
    unplaced += [Unplaced(r.id, "no room within the planning horizon") for r, _done, _decode in model.power_decoders
                 if r.id not in powered]
    placements = tuple(powered[run.id] if run.id in powered else placement_of(model.grid, run, uses[run.id])
                       for run in runs if run.id in powered or (uses.get(run.id) and not run.modulating))
    return placements, tuple(sorted(unplaced, key=lambda u: u.execution_id))


def plan_cost(snapshot: Snapshot, now: float, placements: tuple[Placement, ...], runs: tuple[Run, ...],
              tail: int = 0) -> tuple[float, float]:
    """(import cost, Wh imported) of `placements` over the grid at `now`: per slot,
    price × max(0, load + base − PV); the same function judges every planner."""
    grid = make_grid(snapshot, now, tail or tail_slots(snapshot, runs))
    load = [0.0] * len(grid.capacity)
    shapes = {run.id: run.shape for run in runs}
    modulating = {run.id for run in runs if run.modulating}
    for p in placements:
        for segment in p.segments:
            a, b = segment.start.timestamp(), segment.end.timestamp()
            while a < b - EPS:
                k = grid.slot_holding(a)
                cut = min(b, grid.start_of(k + 1))
                offset = segment.offset_s + (a - segment.start.timestamp())
                if p.execution_id in modulating:  # a segment of a modulating run is one setpoint
                    load[k] += segment.peak_w * (cut - a) / 3600
                else:
                    load[k] += energy_between(shapes[p.execution_id], offset, offset + cut - a)
                a = cut
    cost = imported = 0.0
    for k, energy in enumerate(load):
        hours = _slot_seconds(grid, k) / 3600
        net = max(0.0, energy + (grid.limit_w - grid.capacity[k]) * hours)
        cost += net * grid.price[k] / 1000
        imported += net
    return cost, imported
