"""Rich tables and the timetable chart: views in, renderables out. Times in the home's timezone."""

import json
import math
from collections.abc import Iterable
from datetime import datetime
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group
from rich.table import Table
from rich.text import Text

from reconcile.shell.timetable_view import TimetableView
from reconcile.shell.views import (
    ApplianceView,
    DecisionView,
    ExecutionView,
    ProfileView,
    StateView,
    StatusView,
    as_data,
)
from reconcile.units import format_duration, format_power

BAR_WIDTH = 40
MAX_ROWS = 48
_SPANS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def to_json(value: Any) -> str:
    """Standard JSON: a non-finite number (an old row stored before imports were checked) is `null`,
    never `Infinity` or `NaN`, which JSON does not have."""
    return json.dumps(_finite(as_data(value)), indent=2, default=str, allow_nan=False)


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, list):
        return [_finite(item) for item in data]
    if isinstance(data, dict):
        return {key: _finite(item) for key, item in data.items()}
    return data


def when(moment: datetime | None, zone: ZoneInfo, now: datetime | None = None) -> str:
    """`Tue 08:05` in the home's zone within 6 days of `now`, else `2026-06-30 08:05`; `-` for none."""
    if moment is None:
        return "-"
    near = now is not None and abs((moment - now).total_seconds()) < 6 * 86400
    return moment.astimezone(zone).strftime("%a %H:%M" if near else "%Y-%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _table(*columns: str) -> Table:
    """A borderless table; every column but the last (free text) keeps its cells on one line."""
    table = Table(header_style="bold", box=None, pad_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column, no_wrap=i < len(columns) - 1, overflow="fold")
    return table


def _ids_kept(table: Table) -> Table:
    """`table` whose first column (ids: `cancel ID` needs them) is never shrunk away on a narrow
    terminal (80 columns when piped): the other columns wrap, and rich shrinks those first."""
    for column in table.columns[1:]:
        column.no_wrap = False
    return table


def appliances(rows: Iterable[ApplianceView]) -> Table:
    table = _table("appliance", "interruptible", "min run", "min pause", "class", "max delay", "programs")
    for a in rows:
        pauses = [duration(a.min_run_s), duration(a.min_pause_s)] if a.interruptible else ["-", "-"]
        table.add_row(a.name, "yes" if a.interruptible else "no", *pauses, str(a.priority_class),
                      duration(a.max_delay_s), ", ".join([p.name for p in a.programs] + _power_range(a)) or "-")
    return table


def _power_range(a: ApplianceView) -> list[str]:
    """A modulating appliance's range, e.g. "1.38kW to 6.9kW in steps of 230W", in the last
    (free text) column: a column of its own left a piped table (80 columns) no room for programs."""
    if a.max_power_w is None:
        return []
    stepped = f" in steps of {format_power(a.power_step_w)}" if a.power_step_w else ""
    return [f"{format_power(a.min_power_w or 0)} to {format_power(a.max_power_w)}{stepped}"]


def appliance(row: ApplianceView) -> Group:
    """One appliance, then its programs with where their curves come from."""
    if not row.programs:
        return Group(appliances([row]))
    return Group(appliances([row]), "", profiles(row.programs, sources=True))


def profiles(rows: Iterable[ProfileView], *, sources: bool = False) -> Table:
    extra = ["source"] if sources else []
    table = _table("appliance", "program", "duration", "energy", "peak", "slot", *extra)
    for p in rows:
        table.add_row(p.appliance, p.name, duration(p.duration_s), f"{p.energy_wh / 1000:.2f} kWh",
                      format_power(p.peak_w), duration(p.slot_s), *([p.source or "-"] if sources else []))
    return table


def executions(rows: Iterable[ExecutionView], zone: ZoneInfo, now: datetime, *, closed: bool = False
               ) -> Table:
    """Open runs with their plan; with `closed` (list --all), when each started and ended, and how."""
    tail = ["started", "ended", "how"] if closed else ["start", "end", "late", "note"]
    table = _ids_kept(_table("id", "appliance", "program", "state", "prio", "requested", *tail))
    for e in rows:
        if closed:
            cells = [when(e.started_at, zone, now), when(e.ended_at, zone, now), e.end_reason or "-"]
        else:
            cells = [when(e.planned_start, zone, now), when(e.planned_end, zone, now), duration(e.late_s),
                     e.note or ""]
        table.add_row(str(e.id), e.appliance, e.program, _state(e, now), _priority(e),
                      when(e.requested_at, zone, now), *cells)
    return table


def _state(e: ExecutionView, now: datetime) -> str:
    """`running 33%`: the share of the program done at `now`."""
    if e.state not in ("running", "paused"):
        return e.state
    done = e.progress_s + ((now - e.state_since).total_seconds() if e.state == "running" else 0)
    return f"{e.state} {100 * min(1.0, max(0.0, done / e.duration_s)):.0f}%"


def _priority(e: ExecutionView) -> str:
    return str(e.priority) if e.priority == e.priority_class else f"{e.priority} ({e.priority_class})"


def status_header(view: StatusView, now: datetime) -> str:
    h, zone = view.home, ZoneInfo(view.home.timezone)
    line = (f"limit {format_power(h.limit_w)}, reserve {format_power(h.reserve_w)}, {h.timezone}, "
            f"{h.objective}; ")
    tick = view.last_tick
    if tick is None:
        return line + "no tick yet: run `wattplan tick`"
    ago = format_duration(max(0.0, (now - tick.ran_at).total_seconds()))
    return line + f"last tick #{tick.id} planned at {when(tick.now, zone, now)}, ran {ago} ago"


def status(view: StatusView, now: datetime) -> Table:
    zone = ZoneInfo(view.home.timezone)
    table = _ids_kept(_table("id", "appliance", "program", "state", "prio", "start", "end", "late", "note"))
    for e in view.executions:
        table.add_row(str(e.id), e.appliance, e.program, _state(e, now), _priority(e),
                      when(e.planned_start, zone, now), when(e.planned_end, zone, now), duration(e.late_s),
                      e.note or "")
    return table


def decisions(rows: Iterable[DecisionView], zone: ZoneInfo, now: datetime) -> Table:
    table = _ids_kept(_table("id", "tick", "run", "appliance", "decision", "at", "valid until", "reason"))
    for d in rows:
        kind = d.kind if d.power_w is None else f"{d.kind} at {format_power(d.power_w)}"  # a setpoint
        table.add_row(str(d.id), str(d.tick_id), f"#{d.execution_id}", d.appliance, kind,
                      when(d.at, zone, now), when(d.valid_until, zone, now), d.reason)
    return table


def state(rows: Iterable[StateView], zone: ZoneInfo, now: datetime) -> Table:
    table = _table("appliance", "should", "decision", "valid until", "why")
    for s in rows:
        should = f"run execution #{s.execution_id}" if s.should_run else "off"
        if s.should_run and s.power_w is not None:  # a modulating appliance: at its setpoint
            should += f" at {format_power(s.power_w)}"
        table.add_row(s.appliance, should, s.decision or "-", when(s.valid_until, zone, now), s.reason)
    return table


def chart(view: TimetableView) -> Table:
    """One row per round span of slots (local time): the tightest slot's load as █, its capacity as │."""
    zone = ZoneInfo(view.home.timezone)
    slots = view.slots
    scale = max([view.home.limit_w, *(s.capacity_w for s in slots), *(s.planned_w for s in slots)])
    span = _span(view.home.slot_s, len(slots))
    table = _table("from", f"load █ and capacity │ (full width {format_power(scale)})", "load", "capacity")
    for _key, group in groupby(slots, key=lambda s: _local_epoch(s.start, zone) // span):
        group = list(group)
        tight = min(group, key=lambda s: (s.capacity_w - s.planned_w, s.start))
        load = format_power(tight.planned_w) if tight.planned_w else "-"
        table.add_row(group[0].start.astimezone(zone).strftime("%a %H:%M"),
                      _bar(tight.planned_w, tight.capacity_w, scale), load, format_power(tight.capacity_w))
    return table


def _local_epoch(moment: datetime, zone: ZoneInfo) -> int:
    local = moment.astimezone(zone)
    return int(moment.timestamp() + local.utcoffset().total_seconds())


def _span(slot_s: int, count: int) -> int:
    """Seconds per chart row: the smallest round span, a multiple of the slot, giving <= MAX_ROWS rows."""
    for span in _SPANS_S:
        if span % slot_s == 0 and count * slot_s / span <= MAX_ROWS - 1:
            return span
    return slot_s * -(-count // (MAX_ROWS - 1))


def _bar(load: float, capacity: float, scale: float) -> Text:
    filled = round(BAR_WIDTH * max(0.0, load) / scale)
    marker = min(BAR_WIDTH - 1, max(0, round(BAR_WIDTH * capacity / scale) - 1))
    text = Text()
    for i in range(BAR_WIDTH):
        if i == marker:
            text.append("│", style="bold red" if load > capacity else "yellow")
        elif i < filled:
            text.append("█", style="green")
        else:
            text.append(" ")
    return text


def entries(view: TimetableView) -> Table:
    zone, now = ZoneInfo(view.home.timezone), view.tick.now if view.tick else None
    table = _table("execution", "appliance", "program", "stretch", "from", "to", "energy", "peak")
    for e in view.entries:
        table.add_row(f"#{e.execution_id}", e.appliance, e.program, str(e.seq + 1), when(e.start, zone, now),
                      when(e.end, zone, now), f"{e.energy_wh / 1000:.2f} kWh", format_power(e.peak_w))
    return table


def forecasts(rows: Iterable[dict]) -> Table:
    """`wattplan forecast show`: one row per stored interval."""
    table = _table("kind", "start", "end", "value", "unit")
    for row in rows:
        table.add_row(row["kind"], row["start"], row["end"], f"{row['value']:g}", row["unit"])
    return table


def homes(rows: Iterable, now: datetime) -> Table:
    """`wattplan home list`: one line per home, its newest tick as an age."""
    table = _table("home", "limit", "timezone", "objective", "planner", "open runs", "last tick")
    for h in rows:
        age = "never" if h.ticked_at is None else f"{duration(max(0.0, (now - h.ticked_at).total_seconds()))} ago"
        table.add_row(h.name, format_power(h.limit_w), h.timezone, h.objective, h.planner, str(h.open_runs), age)
    return table
