"""What a run's planned slot uses come to: its `Placement` (segments), and what it misses. PURE.

A placement is never returned as if whole when it is not: a run the grid cannot hold whole is
short (`short_wh`, `earliest_end`), and a run ending after its deadline is late with the energy it
misses by then (`missed_wh`); an unplaced run says why and misses all it still needs.
"""

from datetime import UTC, datetime

from reconcile.planner.domain import Placement, Run, Segment
from reconcile.planner.grid import EPS, Grid, energy_between
from reconcile.planner.placement import Use
from reconcile.planner.states import progress_at


def why_unplaced(grid: Grid, run: Run) -> str:
    """Why `run` found no room: its peak never fits, or the horizon is full."""
    best = max(grid.capacity)
    if run.shape.peak_w > best + EPS:
        return f"never fits: peak {run.shape.peak_w:.0f} W exceeds the largest capacity {best:.0f} W"
    return "no room within the planning horizon"


def placement_of(grid: Grid, run: Run, uses: list[Use]) -> Placement:
    """`run`'s slot uses as a placement: contiguous uses joined into segments."""
    segments, stretch = [], [uses[0]]
    for use in uses[1:]:
        if use.slot == stretch[-1].slot + 1:
            stretch.append(use)
        else:
            segments.append(_segment(grid, stretch))
            stretch = [use]
    segments.append(_segment(grid, stretch))
    done = uses[-1].offset + uses[-1].seconds
    left_s = run.shape.duration_s - done
    # Short: the grid cannot hold the rest of the profile (no room, or the horizon ends). It is
    # never returned as if whole: what it misses and when it could end at the earliest go with it.
    short_wh = energy_between(run.shape, done, run.shape.duration_s) if left_s > EPS else 0.0
    earliest_end = grid.start_of(len(grid.capacity)) + left_s if left_s > EPS else None
    end = earliest_end if earliest_end is not None else segments[-1].end.timestamp()
    late, missed = None, 0.0
    if run.latest_end is not None:
        deadline = run.latest_end.timestamp()
        late = round(end - deadline) if end - deadline > 0 else None
        missed = sum(_energy_after(grid, run, use, deadline) for use in uses)
        if earliest_end is not None:  # at best the rest runs whole from the grid's end on
            tail_s = min(left_s, max(0.0, earliest_end - max(deadline, earliest_end - left_s)))
            missed += energy_between(run.shape, run.shape.duration_s - tail_s, run.shape.duration_s)
    return Placement(run.id, tuple(segments), late, short_wh=round(short_wh, 3),
                     earliest_end=None if earliest_end is None else _instant(earliest_end),
                     missed_wh=round(missed, 3))


def _energy_after(grid: Grid, run: Run, use: Use, deadline: float) -> float:
    """The energy of `use` drawn after `deadline`."""
    start = grid.start_of(use.slot)
    if start + use.seconds <= deadline:
        return 0.0
    skip = max(0.0, deadline - start)
    return energy_between(run.shape, use.offset + skip, use.offset + use.seconds)


def remaining_wh(run: Run, now: float) -> float:
    """The energy `run` still needs at `now`."""
    return energy_between(run.shape, progress_at(run, now), run.shape.duration_s)


def _segment(grid: Grid, stretch: list[Use]) -> Segment:
    start = grid.start_of(stretch[0].slot)
    end = grid.start_of(stretch[-1].slot) + stretch[-1].seconds
    return Segment(
        start=_instant(start),
        end=_instant(end),
        offset_s=stretch[0].offset,
        energy_wh=round(sum(u.energy for u in stretch), 3),
        peak_w=max(u.peak for u in stretch),
    )


def _instant(epoch: float) -> datetime:
    # Microseconds, the datetimes' own resolution: rounding coarser would move slot 0 off `now`.
    return datetime.fromtimestamp(round(epoch, 6), UTC)
