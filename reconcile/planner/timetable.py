"""Building the timetable: committed runs first, the rest in claim order. PURE."""

import math
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

from reconcile.planner.domain import Run, Snapshot, Unplaced
from reconcile.planner.grid import EPS, Grid, footprint, make_grid, peak_between, slot_count
from reconcile.planner.improve import improve_timetable
from reconcile.planner.incumbent import deadline, incumbent_slots, keep_block, keep_slots
from reconcile.planner.modulating import Filler
from reconcile.planner.modulating import split as split_modulating
from reconcile.planner.objectives import place_block_by, slot_ranking, window_end
from reconcile.planner.outcome import placement_of, remaining_wh, why_unplaced
from reconcile.planner.placement import (
    Pausable,
    Use,
    closed,
    contiguous_uses,
    occupy,
    place_block,
    place_slots,
    place_slots_ranked,
)
from reconcile.planner.priority import claim_order
from reconcile.planner.starters import may_start_now, new_starters
from reconcile.planner.states import progress_at


def tail_slots(snapshot: Snapshot, runs: tuple[Run, ...]) -> int:
    """Slots the grid reaches past the horizon: the longest profile may start at its last slot."""
    return max((slot_count(r.shape.duration_s, snapshot.home.slot_s) for r in runs), default=0) + 2


def build_timetable(snapshot: Snapshot, runs: tuple[Run, ...], now: float):
    """Placements for every run that fits in the horizon, and the reasons for those that do not.

    Returns (placements, unplaced, grid); with no run to place there is no grid (None): most
    ticks of a day have nothing open, and building the grid is most of a tick's work.
    """
    if not runs:
        return (), (), None
    runs, modulating = split_modulating(runs)  # placed in claim order by a Filler (planner.modulating)
    grid = make_grid(snapshot, now, tail_slots(snapshot, runs))
    capacity = list(grid.capacity)
    incumbent = incumbent_slots(grid, snapshot.previous)  # where the newest tick planned each run
    uses: dict[int, list[Use]] = {}
    busy: dict[str, set[int]] = {}  # slots each appliance is already planned in: one run at a time
    for run in runs:  # committed: what cannot be stopped now
        head = committed_head(grid, run, now)
        if head:
            occupy(capacity, head)
            uses[run.id] = head
            busy.setdefault(run.appliance, set()).update(u.slot for u in head)
    unplaced, fixed = [], {}
    charging = Filler(grid, capacity, modulating, now, snapshot.home.objective)
    for level in _levels(runs, now):
        charging.before(level)  # modulating runs of a higher priority take their power first
        starters: set[int] = set()  # pausable runs that start now and keep their first stretch
        maybe = any(r.interruptible and r.state != "running" and may_start_now(grid, capacity, r, now) for r in level)
        while True:  # again only when a run starting now was planned to yield to an equal (rare)
            saved = (list(capacity), dict(uses), {a: set(s) for a, s in busy.items()}, dict(fixed)) if maybe else None
            later = _claim_level(grid, capacity, uses, busy, unplaced, level, starters, now, snapshot.home.objective,
                                 incumbent, fixed)
            new = new_starters(grid, capacity, uses, level, starters, later, snapshot.home.objective) if maybe else ()
            if not new:
                break
            capacity[:], uses, busy, fixed = saved
            unplaced = [u for u in unplaced if all(u.execution_id != r.id for r in level)]
            starters.update(new)
    _improve(grid, capacity, uses, runs, now, snapshot.home.objective, incumbent, fixed)
    placements = tuple(placement_of(grid, run, uses[run.id]) for run in runs if uses.get(run.id))
    more, short = charging.rest()  # the other modulating runs, in what is left
    placements, unplaced = placements + more, [*unplaced, *short]
    return placements, tuple(unplaced), grid


def _improve(grid: Grid, capacity: list[float], uses: dict[int, list[Use]], runs: tuple[Run, ...], now: float,
             objective: str, incumbent: dict[int, list[int]], fixed: dict[int, list[Use]]) -> None:
    """The joint pass (`planner.improve`) over what may still move: each pausable run that keeps
    running from now (`fixed`: its committed head and current stretch) is given to it as the
    paused run it will be when that stretch ends, with only the rest of its plan; a running run
    planned to pause now as the paused run it will be. So the pass sees a run the same before and
    after it starts, resumes or pauses, and a plan does not change only because a run did."""
    rest = dict(uses)
    seen = []
    for run in runs:
        kept = fixed.get(run.id)
        if kept:  # only pausable runs claim a current stretch (`_claims`)
            # Its kept stretch stays in the plan as a run of its own that the pass cannot move (it
            # runs, uninterruptible), so the appliance's other runs still keep out of its slots.
            rest[run.id], rest[-run.id] = uses[run.id][len(kept):], kept
            seen.append(replace(run, id=-run.id, interruptible=False, state="running"))
            run = _paused_after(grid, run, kept)
        elif run.state == "running" and run.interruptible:
            run = _paused(run, now)
        seen.append(run)
    improve_timetable(grid, capacity, rest, tuple(seen), now, objective, incumbent, lambda run: window_end(grid, run))
    for run_id, kept in fixed.items():
        rest[run_id] = kept + rest.get(run_id, [])
        rest.pop(-run_id, None)
    uses.update(rest)


def _paused_after(grid: Grid, run: Run, kept: list[Use]) -> Run:
    """`run` as it will be when the stretch it keeps running (`kept`, from now) ends."""
    end = datetime.fromtimestamp(grid.start_of(kept[-1].slot + 1), UTC)
    return replace(run, state="paused", state_since=end, earliest_start=max(end, run.earliest_start),
                   progress_s=kept[-1].offset + kept[-1].seconds)


def _levels(runs: tuple[Run, ...], now: float) -> list[list[Run]]:
    """The runs that still claim power (committed ones do not), by priority level, highest first."""
    levels: dict[int, list[Run]] = {}
    for run in runs:
        if not (run.state == "running" and not run.interruptible):
            levels.setdefault(claim_order(run, now)[0], []).append(run)
    return [levels[key] for key in sorted(levels)]


def _claim_level(grid, capacity, uses, busy, unplaced, level, starters, now, objective, incumbent,
                 fixed) -> list[tuple]:
    """Place one priority level (see `_claims`); returns the later claims in order: (run, uses).
    `fixed` gets what each pausable run keeps running from now: its committed head and stretch."""
    later = []
    for _key, run, current in _claims(level, now, starters):
        head = uses.get(run.id, [])
        taken = busy.setdefault(run.appliance, set()).difference(u.slot for u in head)
        if current:
            going = run if run.state == "running" else _started(run, now)
            stretch = _for_appliance(capacity, taken, partial(_current_stretch, grid, run=going, now=now, head=head,
                                                              objective=objective, keep=incumbent.get(run.id)))
            uses[run.id] = fixed[run.id] = head + stretch
            busy[run.appliance].update(u.slot for u in stretch)
            continue
        if head and run.state != "running":  # it starts now: what follows its stretch continues it
            run = _started(run, now)
        elif not head and run.state == "running" and run.interruptible:  # it pauses now: plan the rest
            run = _paused(run, now)  # as the paused run the next tick will see
        rest = _for_appliance(capacity, taken, partial(_place, grid, run=run, now=now, head=head,
                                                       objective=objective, keep=incumbent.get(run.id)))
        if rest is None:
            unplaced.append(Unplaced(run.id, why_unplaced(grid, run), round(remaining_wh(run, now), 3)))
        else:
            uses[run.id] = head + rest
            busy[run.appliance].update(u.slot for u in rest)
            later.append((run.id, rest))
    return later


def _for_appliance(capacity: list[float], taken: set[int], place):
    """`place(capacity)` with the slots the appliance's other runs hold closed to it: a washing
    machine runs one cycle at a time. The uses found take their power from `capacity`."""
    if not taken:
        return place(capacity)
    view = closed(capacity, taken)
    found = place(view)
    if found:
        occupy(capacity, found)
    return found


def _claims(level: list[Run], now: float, starters: set[int]) -> list[tuple[tuple, Run, bool]]:
    """(key, run, current stretch only) of one priority level, in claim order.

    Pausable runs first claim the stretch they run from now until they would pause anyway: the
    running ones (longest running first), then `starters`, those that start now. So a run is
    paused only for a strictly higher priority, and a run that starts keeps the stretch it was
    planned with. Then every run claims the rest in claim order, as if none were running: were a
    running run's whole future to go first, each start or pause would reorder the plan behind it
    and move planned starts back and forth.
    """
    claims = []
    for run in level:
        _level, _running, *rest = claim_order(run, now, continuing=False)
        if run.interruptible and (run.state == "running" or run.id in starters):
            since = run.state_since.timestamp() if run.state == "running" and run.state_since else math.inf
            claims.append(((0, since, *rest), run, True))
        claims.append(((1, 0.0, *rest), run, False))
    return sorted(claims, key=lambda claim: claim[0])


def _current_stretch(grid: Grid, capacity: list[float], run: Run, now: float, head: list[Use], objective: str,
                     keep: list[int] | None) -> list[Use]:
    """The uses that keep `run` running on from its head (or now) until its own plan pauses it,
    never for an equal priority (it claims before them); taken. Under `asap` it pauses only where
    power runs out; under a cost objective also where its cost plan (kept as the incumbent while
    whole and no later) pauses it for dearer hours: an EV charging in a cheap hour pauses when
    the dear ones come."""
    planned = _place(grid, list(capacity), run, now, head, objective, keep) or []
    first = head[-1].slot + 1 if head else 0
    stretch = []
    for use in planned:
        if use.slot != first + len(stretch):
            break
        stretch.append(use)
    occupy(capacity, stretch)
    return stretch


def _started(run: Run, now: float) -> Run:
    """`run` as it will be once started or resumed at `now`."""
    return replace(run, state="running", state_since=datetime.fromtimestamp(now, UTC))


def _paused(run: Run, now: float) -> Run:
    """`run` as it will be once paused at `now`."""
    return replace(run, state="paused", state_since=datetime.fromtimestamp(now, UTC), progress_s=progress_at(run, now))


def committed_head(grid: Grid, run: Run, now: float) -> list[Use]:
    """A running run's slots that no one may take: all of a non-interruptible run, the rest of
    an interruptible run's minimum run."""
    if run.state != "running":
        return []
    done = progress_at(run, now)
    if not run.interruptible:
        return contiguous_uses(grid, 0, run.shape, done, footprint(run.shape, done, grid.lead, grid.slot_s))
    on_for = now - (run.state_since.timestamp() if run.state_since else now)
    owed = min(run.min_run_s - on_for, run.shape.duration_s - done)
    if owed <= EPS:
        return []
    peaks, energies = footprint(run.shape, done, grid.lead, grid.slot_s)
    uses, covered = [], 0.0
    for use in contiguous_uses(grid, 0, run.shape, done, (peaks, energies)):
        if covered >= owed - EPS:
            break
        uses.append(use)
        covered += use.seconds
    return uses


def _place(grid: Grid, capacity: list[float], run: Run, now: float, head: list[Use], objective: str,
           keep: list[int] | None = None):
    """The uses of `run` after its committed head, or None when it cannot start in the horizon."""
    done = head[-1].offset + head[-1].seconds if head else progress_at(run, now)
    lo = head[-1].slot + 1 if head else grid.slot_at_or_after(run.earliest_start.timestamp())
    if run.shape.duration_s - done <= EPS:
        return []
    reachable = max(grid.capacity[lo:], default=-math.inf)
    if run.interruptible and peak_between(run.shape, done, run.shape.duration_s) > reachable + EPS:
        return None if not head else []  # it could never finish: better not started than stuck half-way
    objective = run.objective or objective
    if not run.interruptible:
        if objective != "asap" and keep:
            return keep_block(objective, grid, capacity, run, done, lo, keep)
        if objective != "asap":
            return place_block_by(objective, grid, capacity, run, done, lo)
        return place_block(grid, capacity, run.shape, done, lo, grid.horizon)
    pausable = Pausable.of(run, now, sum(u.seconds for u in head))
    if objective != "asap":
        end = window_end(grid, run)
        ranking = partial(slot_ranking, objective, grid, capacity, run, done, lo, end)
        if keep:
            uses = keep_slots(grid, capacity, run.shape, done, lo, pausable, ranking, end, keep, deadline(run))
        else:
            uses = place_slots_ranked(grid, capacity, run.shape, done, lo, pausable, ranking, end)
    else:
        uses = place_slots(grid, capacity, run.shape, done, lo, pausable)
    return uses or (None if not head else [])
