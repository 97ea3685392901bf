"""Modulating runs (EV chargers, heat-pump boilers): a power per slot, filling what is left. PURE.

A modulating run asks for an energy by a deadline; its appliance draws any power in [min, max]
(in steps, when it has them) or nothing. Its `Run.shape` is that energy at the maximum power, so
progress counts seconds at full power and the state machine needs nothing new
(`states.progress_at` scales by setpoint / maximum).

The rule (README, "Modulating appliances"): modulating runs claim in priority order with the rest
(`Filler`: before a level of runs with a program, those of a higher level; the others after every
run with a program); each takes per slot as much of the capacity left as its maximum allows
(never more: the limit holds in every slot), in the order of its objective: `asap` earliest
slots first, `cheapest` the cheapest first, `solar` the most PV first (then the cheapest), only
in slots that end by its deadline. A slot where less than its minimum is left is skipped (the
charger pauses). The last slot it needs runs at the lowest power that still finishes in it. What
the window cannot hold is placed after the deadline, earliest first (late, with the energy that
misses the deadline), and what the horizon cannot hold is reported short.
"""

import math
from datetime import UTC, datetime

from reconcile.planner.domain import Decision, Placement, Run, Segment, Shape, Unplaced
from reconcile.planner.grid import EPS, Grid
from reconcile.planner.objectives import window_end
from reconcile.planner.priority import claim_order
from reconcile.planner.states import progress_at


def energy_shape(energy_wh: float, max_power_w: float) -> Shape:
    """A modulating run's profile: `energy_wh` at `max_power_w`, one slot of its whole length."""
    seconds = max(1, round(energy_wh * 3600 / max_power_w))
    return Shape(seconds, (max_power_w,), (max_power_w,))


def split(runs: tuple[Run, ...]) -> tuple[tuple[Run, ...], tuple[Run, ...]]:
    """(runs with a program, modulating runs)."""
    return tuple(r for r in runs if not r.modulating), tuple(r for r in runs if r.modulating)


def step_down(run: Run, watts: float) -> float:
    """The highest power `run`'s appliance can draw at or below `watts`; 0 below its minimum."""
    watts = min(watts, run.max_power_w)
    if watts < run.min_power_w - EPS:
        return 0.0
    if not run.power_step_w:
        return watts
    return run.min_power_w + math.floor((watts - run.min_power_w) / run.power_step_w + 1e-9) * run.power_step_w


def step_up(run: Run, watts: float) -> float:
    """The lowest power `run`'s appliance can draw at or above `watts` (its minimum at least)."""
    watts = max(watts, run.min_power_w)
    if not run.power_step_w:
        return min(watts, run.max_power_w)
    stepped = run.min_power_w + math.ceil((watts - run.min_power_w) / run.power_step_w - 1e-9) * run.power_step_w
    return min(stepped, run.max_power_w)


def fill(grid: Grid, capacity: list[float], runs: tuple[Run, ...], now: float, objective: str,
         taken: dict[str, set[int]] | None = None):
    """Placements and unplaced reasons of the modulating `runs` in what `capacity` leaves; the
    power each takes is taken from `capacity` (one run of an appliance at a time: `taken`, the
    slots each appliance's runs already hold)."""
    placements, unplaced, taken = [], [], {} if taken is None else taken
    for run in sorted(runs, key=lambda r: claim_order(r, now)):
        closed = taken.setdefault(run.appliance, set())
        done = progress_at(run, now)
        uses = _slots(grid, capacity, run, done, run.objective or objective, closed)
        if not uses:
            left = (run.shape.duration_s - done) * run.max_power_w / 3600
            if left > EPS:
                unplaced.append(Unplaced(run.id, "no room within the planning horizon", round(left, 3)))
            continue
        for k, power, _seconds in uses:
            capacity[k] -= power
            closed.add(k)
        placements.append(placement_from(grid, run, done, uses))
    return placements, unplaced


def _slots(grid: Grid, capacity: list[float], run: Run, done: float, objective: str, closed: set[int]):
    """[(slot, power W, seconds)] in slot order: the window by objective, then late slots."""
    lo = grid.slot_at_or_after(run.earliest_start.timestamp())
    end = min(window_end(grid, run), grid.horizon)
    need = run.shape.duration_s - done  # seconds at full power
    chosen = []
    for k in [*_ranked(grid, objective, lo, end), *range(max(lo, end), grid.horizon)]:
        if need <= EPS:
            break
        if k in closed:
            continue
        seconds = grid.slot_s - (grid.lead if k == 0 else 0.0)
        power = step_down(run, capacity[k])
        if power <= EPS or seconds <= EPS:
            continue
        if seconds * power / run.max_power_w >= need - EPS:  # the last slot: as little power as finishes
            power = min(power, step_up(run, need * run.max_power_w / seconds))
            seconds = min(seconds, need * run.max_power_w / power)
        chosen.append((k, power, seconds))
        need -= seconds * power / run.max_power_w
    return sorted(chosen)


def _ranked(grid: Grid, objective: str, lo: int, end: int) -> list[int]:
    slots = range(lo, end)
    if objective == "cheapest":
        return sorted(slots, key=lambda k: (grid.price[k], k))
    if objective == "solar":
        return sorted(slots, key=lambda k: (-grid.pv[k], grid.price[k], k))
    return list(slots)


def placement_from(grid: Grid, run: Run, done: float, uses: list[tuple[int, float, float]]) -> Placement:
    """Segments of equal power in consecutive slots of (slot, power W, seconds) `uses`, from
    `done` full-power seconds on; late, missed and short energy as for any run."""
    segments, offset = [], done
    for k, power, seconds in uses:
        start = grid.start_of(k)
        last = segments[-1] if segments else None
        if last and last[1] == power and abs(last[0] + last[2] - start) < EPS:
            segments[-1] = (last[0], power, last[2] + seconds, last[3], last[4] + power * seconds / 3600)
        else:
            segments.append((start, power, seconds, offset, power * seconds / 3600))
        offset += seconds * power / run.max_power_w
    short_wh = max(0.0, run.shape.duration_s - offset) * run.max_power_w / 3600
    if short_wh < 1e-3:
        short_wh = 0.0
    end = segments[-1][0] + segments[-1][2]
    earliest_end = grid.start_of(grid.horizon) + short_wh * 3600 / run.max_power_w if short_wh else None
    late, missed = None, short_wh
    if run.latest_end is not None:
        deadline = run.latest_end.timestamp()
        over = (earliest_end or end) - deadline
        late = round(over) if over >= 0.5 else None
        missed += sum(p * max(0.0, s + t - max(s, deadline)) / 3600 for s, p, t, _o, _e in segments
                      if s + t > deadline)
    return Placement(run.id, tuple(Segment(_instant(s), _instant(s + t), o, round(e, 3), p)
                                   for s, p, t, o, e in segments), late, short_wh=round(short_wh, 3),
                     earliest_end=None if earliest_end is None else _instant(earliest_end),
                     missed_wh=round(missed, 3))


def power_now(placement: Placement, now: float) -> float:
    """The setpoint a modulating placement asks for at `now` (0: not running now)."""
    first = placement.segments[0]
    return first.peak_w if first.start.timestamp() <= now + EPS else 0.0


def with_setpoints(decisions, runs: tuple[Run, ...], placements: tuple[Placement, ...], now: float):
    """`decisions` with the setpoint on every start and resume of a modulating run, and a `resume`
    at the new power for each running one whose setpoint changes now (README: decisions)."""
    planned = {p.execution_id: power_now(p, now) for p in placements}
    modulating = {r.id: r for r in runs if r.modulating}
    out, decided = [], set()
    for d in decisions:
        decided.add(d.execution_id)
        if d.execution_id in modulating and d.kind in ("start", "resume"):
            d = Decision(d.execution_id, d.kind, d.reason, planned.get(d.execution_id) or None)
        out.append(d)
    for run_id, run in modulating.items():
        power = planned.get(run_id, 0.0)
        if run_id in decided or run.state != "running" or power <= EPS:
            continue
        if run.power_w is None or abs(power - run.power_w) > 0.5:  # under a watt: noise, not a change
            out.append(Decision(run_id, "resume", f"setpoint {run.power_w or 0:.0f} W -> {power:.0f} W", power))
    return tuple(out)


def _instant(epoch: float) -> datetime:
    return datetime.fromtimestamp(round(epoch, 6), UTC)


class Filler:
    """The modulating runs of one timetable, placed as the claim order reaches them: those of a
    higher priority level than a level of runs with a program take their power before it
    (`before`), the rest after every run with a program (`rest`). `capacity` is shared with the
    timetable and taken from as they are placed."""

    def __init__(self, grid: Grid, capacity: list[float], runs: tuple[Run, ...], now: float, objective: str):
        self.grid, self.capacity, self.now, self.objective = grid, capacity, now, objective
        self.waiting = sorted(runs, key=lambda r: claim_order(r, now))
        self.placements: list[Placement] = []
        self.unplaced: list[Unplaced] = []
        self.taken: dict[str, set[int]] = {}

    def before(self, level: list[Run]) -> None:
        """Place the waiting modulating runs of a strictly higher priority level than `level`'s."""
        first = claim_order(level[0], self.now)[0]
        ahead = [r for r in self.waiting if claim_order(r, self.now)[0] < first]
        if ahead:
            self._fill(tuple(ahead))

    def rest(self) -> tuple[tuple[Placement, ...], list[Unplaced]]:
        """Place what still waits; every modulating placement and unplaced reason."""
        self._fill(tuple(self.waiting))
        return tuple(self.placements), self.unplaced

    def _fill(self, runs: tuple[Run, ...]) -> None:
        self.waiting = [r for r in self.waiting if r not in runs]
        placed, unplaced = fill(self.grid, self.capacity, runs, self.now, self.objective, self.taken)
        self.placements += placed
        self.unplaced += unplaced
