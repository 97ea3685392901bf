"""Builders and independent checkers for planner tests.

`apply_plan` applies a plan's transitions with the product's own state machine (`states.advance`),
so the idempotence property runs what the store writes, not a hand copy. The checkers
(`run_loads`, `slot_capacity`) reuse none of the planner's bookkeeping: they recompute, from the
placements' segments, the profiles and the forecast, what the planner claims it respects.
"""

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reconcile.planner.domain import Home, Interval, Placement, Plan, Run, Shape, Snapshot
from reconcile.planner.states import advance

NOW = datetime(2026, 6, 30, 6, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
TOL = 1e-6  # seconds / watts of float noise


def home(limit_w: float = 3000, *, slot_s: int = 60, horizon_h: float = 24, reserve_w: float = 0,
         objective: str = "asap") -> Home:
    return Home(1, float(limit_w), "UTC", slot_s, int(horizon_h * 3600), float(reserve_w), objective)


def shape(*watts: float, peaks: tuple[float, ...] | None = None, slot_s: int = 60) -> Shape:
    """A profile of one value per `slot_s`; peaks default to the means."""
    peaks = peaks if peaks is not None else watts
    return Shape(slot_s, tuple(map(float, watts)), tuple(max(w, p) for w, p in zip(watts, peaks, strict=True)))


def flat(watts: float, minutes: int) -> Shape:
    return shape(*[watts] * minutes)


def run(id: int, profile: Shape, *, at: datetime = NOW, interruptible: bool = False, priority_class: int = 5,
        **fields) -> Run:
    """A run requested at `at` (earliest start too unless given); other `Run` fields by keyword."""
    fields.setdefault("earliest_start", at)
    fields.setdefault("state_since", at)
    return Run(id=id, appliance=f"a{id}", program="p", interruptible=interruptible, shape=profile,
               requested_at=at, priority_class=priority_class, **fields)


def running(id: int, profile: Shape, *, since: datetime, progress_s: float = 0.0, **fields) -> Run:
    fields.setdefault("at", since)
    return run(id, profile, state="running", state_since=since, progress_s=progress_s,
               last_command="start", **fields)


def paused(id: int, profile: Shape, *, since: datetime, progress_s: float, **fields) -> Run:
    fields.setdefault("at", since - HOUR)
    return run(id, profile, state="paused", state_since=since, progress_s=progress_s,
               last_command="pause", **fields)


def snap(*runs: Run, h: Home | None = None, pv=(), base=(), price=(), ended=()) -> Snapshot:
    return Snapshot(home=h or home(), runs=tuple(runs), ended=tuple(ended), pv=tuple(pv), base=tuple(base),
                    price=tuple(price))


def interval(start: datetime, end: datetime, value: float) -> Interval:
    return Interval(start.timestamp(), end.timestamp(), float(value))


def starts(p: Plan) -> dict[int, datetime]:
    return {placement.execution_id: placement.start for placement in p.placements}


def decisions(p: Plan) -> set[tuple[int, str]]:
    return {(d.execution_id, d.kind) for d in p.decisions}


def placement(p: Plan, execution_id: int) -> Placement:
    return next(x for x in p.placements if x.execution_id == execution_id)


# --- writer.apply on frozen values ----------------------------------------------------------------


def apply_plan(snapshot: Snapshot, p: Plan) -> Snapshot:
    """The snapshot the store would load after writing `p`, through the product's state machine.

    Each transition is applied with `states.advance` (ended runs are gone); a stop is the last
    command about an ended run, so it is not loaded again; the tick just written is the last one.
    """
    changes = {t.execution_id: t for t in p.transitions}
    runs = tuple(r for r in (advance(r, changes[r.id]) if r.id in changes else r for r in snapshot.runs) if r)
    stopped = {d.execution_id for d in p.decisions if d.kind == "stop"}
    ended = tuple(e for e in snapshot.ended if e.id not in stopped)
    return replace(snapshot, runs=runs, ended=ended, last_tick_at=p.now, previous=p.placements)


# --- independent load and capacity ---------------------------------------------------------------


def slot_bounds(h: Home, now: datetime, k: int) -> tuple[float, float]:
    """Slot k of the grid at `now`: slot 0 runs from now to the next slot boundary."""
    origin = math.floor(now.timestamp() / h.slot_s) * h.slot_s
    return (now.timestamp() if k == 0 else origin + k * h.slot_s), origin + (k + 1) * h.slot_s


def slot_index(h: Home, now: datetime, instant: float) -> int:
    origin = math.floor(now.timestamp() / h.slot_s) * h.slot_s
    return max(0, math.floor((instant - origin) / h.slot_s + TOL))


def profile_peak(profile: Shape, a: float, b: float) -> float:
    """The highest instantaneous power of `profile` strictly inside offsets (a, b)."""
    first = max(0, math.floor((a + TOL) / profile.slot_s))
    last = min(len(profile.peaks), math.ceil((b - TOL) / profile.slot_s))
    return max(profile.peaks[first:last], default=0.0)


def run_loads(h: Home, now: datetime, r: Run, p: Placement) -> dict[int, float]:
    """Per grid slot, the peak `r` draws in it according to its segments' instants and offsets."""
    loads: dict[int, float] = {}
    for seg in p.segments:
        a, b = seg.start.timestamp(), seg.end.timestamp()
        k = slot_index(h, now, a)
        while True:
            lo, hi = slot_bounds(h, now, k)
            if lo >= b - TOL:
                break
            x, y = max(a, lo), min(b, hi)
            if y > x + TOL:
                peak = profile_peak(r.shape, seg.offset_s + x - a, seg.offset_s + y - a)
                loads[k] = loads.get(k, 0.0) + peak
            k += 1
    return loads


def _value_at(series: tuple[Interval, ...], t: float, default: float) -> float:
    for i in series:
        if i.start <= t < i.end:
            return i.value
    return default


def slot_capacity(s: Snapshot, now: datetime, k: int) -> float:
    """limit + PV − base at the worst instant of slot k (the breaker trips on the worst one)."""
    lo, hi = slot_bounds(s.home, now, k)
    instants = {lo} | {t for i in (*s.pv, *s.base) for t in (i.start, i.end) if lo < t < hi}
    return s.home.limit_w + min(_value_at(s.pv, t, 0.0) - _value_at(s.base, t, s.home.reserve_w) for t in instants)
