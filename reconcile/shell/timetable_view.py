"""The newest tick's plan as `wattplan timetable` shows it: its entries, and the planned load and
capacity per slot from the tick's `now`. Plain frozen values, no printing (`views.as_data` makes
them JSON-ready).
"""

import dataclasses
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session

from models import Appliance, Execution, Profile, TimetableEntry
from reconcile.planner.domain import Shape
from reconcile.planner.grid import energy_between, make_grid, peak_between
from reconcile.shell.store import load_home, load_snapshot
from reconcile.shell.views import HomeView, TickView, home, last_tick


@dataclasses.dataclass(frozen=True, slots=True)
class SlotView:
    start: datetime
    end: datetime
    planned_w: float  # the highest power the plan may draw in the slot: sum of the runs' peaks
    energy_wh: float
    capacity_w: float  # limit + PV − base load


@dataclasses.dataclass(frozen=True, slots=True)
class EntryView:
    execution_id: int
    appliance: str
    program: str
    seq: int
    start: datetime
    end: datetime
    energy_wh: float
    peak_w: float


@dataclasses.dataclass(frozen=True, slots=True)
class TimetableView:
    home: HomeView
    tick: TickView | None
    slots: tuple[SlotView, ...]
    entries: tuple[EntryView, ...]


def timetable(session: Session, *, hours: float | None = None) -> TimetableView:
    """The newest tick's plan: its entries and the planned load per slot for `hours` from its now."""
    h = load_home(session)
    info, tick = home(session), last_tick(session)
    if tick is None:
        return TimetableView(info, None, (), ())
    rows = list(session.execute(
        select(TimetableEntry, Appliance.name, Profile, Execution.energy_wh)
        .join(Execution, Execution.id == TimetableEntry.execution_id)
        .join(Appliance, Appliance.id == Execution.appliance_id)
        .join(Profile, Profile.id == Execution.profile_id)
        .where(TimetableEntry.home_id == h.id)
        .order_by(TimetableEntry.starts_at, TimetableEntry.execution_id, TimetableEntry.seq)))
    entries = tuple(EntryView(t.execution_id, appliance, p.name, t.seq, t.starts_at, t.ends_at, t.energy_wh,
                              t.peak_w) for t, appliance, p, _energy in rows)
    count = max(1, round((hours * 3600 if hours else h.horizon_s) / h.slot_s))
    snapshot = load_snapshot(session=session, home=h)
    grid = make_grid(snapshot, tick.now.timestamp(), max(0, count - h.horizon_s // h.slot_s))
    peaks, energy = [0.0] * count, [0.0] * count
    for t, _appliance, p, modulating in rows:
        _add_load(grid, _constant(t.peak_w) if modulating else _shape(p), t, peaks, energy)
    slots = tuple(
        SlotView(_at(grid.start_of(k)), _at(grid.start_of(k + 1)), round(peaks[k], 1), round(energy[k], 3),
                 round(grid.capacity[k], 1))
        for k in range(count))
    return TimetableView(info, tick, slots, entries)


def _shape(p: Profile) -> Shape:
    peaks = tuple(max(w, q) for w, q in zip(p.watts, p.peak_watts, strict=True))
    return Shape(p.slot_s, tuple(p.watts), peaks)


def _constant(watts: float) -> Shape:
    """A modulating run's stretch draws its setpoint throughout (its program is not its power)."""
    return Shape(10**9, (watts,), (watts,))


def _add_load(grid, shape: Shape, entry: TimetableEntry, peaks: list[float], energy: list[float]) -> None:
    """Add the stretch `entry` (profile from its offset) to the per-slot peak and energy sums."""
    start, end = entry.starts_at.timestamp(), entry.ends_at.timestamp()
    k = grid.slot_holding(start)
    while k < len(peaks) and grid.start_of(k) < end:
        a = entry.offset_s + max(grid.start_of(k), start) - start
        b = min(shape.duration_s, entry.offset_s + min(grid.start_of(k + 1), end) - start)
        if b > a:
            peaks[k] += peak_between(shape, a, b)
            energy[k] += energy_between(shape, a, b)
        k += 1


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(round(epoch, 3), UTC)
