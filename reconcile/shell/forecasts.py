"""Forecast series in and out: parse CSV or JSON, validate, resample to the home's slots, store, show.

Parsing, validation and resampling are pure; `replace_series` and `stored_series` take a session.
`replace_series` is the one writer of forecast rows: the CLI import, the sample loader and the
simulator's forecast updates all go through it.

Input (docs/objectives.md, "Forecasts"):

- CSV with the header `timestamp,value`: one row per interval start, ISO 8601 with an offset
  (`2026-06-30T12:00+02:00`, `…Z`) or naive, meaning the home's timezone. The unit follows
  `value`: PV and base load in W (`value` or `value_w`) or kW (`value_kw`); prices per kWh
  (`value` or `value_kwh`) or per MWh (`value_mwh`, as markets publish them). Rows are evenly
  spaced: each lasts the series' step, the shortest distance between two timestamps (one home
  slot if there is a single row), so a longer distance is a gap.
- JSON: a list of `{"start": …, "value": …}` (the same rule for ends) or of
  `{"start": …, "end": …, "value": …}` (any lengths), in the base unit (W, per kWh).

Rows may come in any order (they are sorted by start). Errors are one line naming the line (CSV,
counting the header as line 1) or the item (JSON, from 1), never the input's text: not a number,
NaN, infinite or beyond `MAX_VALUE` in magnitude (after the unit's conversion), negative PV or base
load, a time outside the years 2000 to 2100, a duplicate or overlapping interval, a gap inside the
series, a series covering more than 366 days.

Resampling: each slot of the home's grid that the series covers gets the time-weighted mean of
the values over the part of the slot the series covers (a mean when the series is finer than
the slots, the held value when it is coarser; prices alike). Neighbouring slots of equal value
are stored as one interval.
"""

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlmodel import Session

from models import FORECAST_KINDS, Forecast, Home
from reconcile.errors import ReconcileError
from reconcile.planner.domain import Interval
from reconcile.planner.grid import slot_ceil, slot_floor
from reconcile.units import FIRST_YEAR, LAST_YEAR

UNITS = {"pv": "W", "base": "W", "price": "per kWh"}
MAX_VALUE = 1e9  # W or per kWh: a thousand times any house's, still exact when summed over slots
MAX_SPAN_S = 366 * 86400  # what one import may cover: resampled to the home's slots, row by row
_SCALES = {  # header of the value column -> factor to the base unit, per kind
    "pv": {"value": 1.0, "value_w": 1.0, "value_kw": 1000.0},
    "base": {"value": 1.0, "value_w": 1.0, "value_kw": 1000.0},
    "price": {"value": 1.0, "value_kwh": 1.0, "value_mwh": 0.001},
}


@dataclass(frozen=True, slots=True)
class Row:
    """One parsed input row: where it came from (`line 4`, `item 2`), its interval and value."""

    where: str
    start: datetime
    end: datetime | None
    value: float


@dataclass(frozen=True, slots=True)
class Imported:
    kind: str
    rows: int  # input rows read
    intervals: int  # intervals stored after resampling
    start: datetime
    end: datetime


def check_kind(kind: str) -> str:
    if kind not in FORECAST_KINDS:
        raise ReconcileError(f"unknown forecast kind {kind!r}: choose {', '.join(FORECAST_KINDS)}")
    return kind


def parse(text: str, *, kind: str, zone: ZoneInfo) -> list[Row]:
    """Rows of CSV or JSON `text` (JSON when it starts with `[` or `{`), values in the base unit."""
    check_kind(kind)
    if text.lstrip().startswith(("[", "{")):
        return parse_json(text, kind=kind, zone=zone)
    return parse_csv(text, kind=kind, zone=zone)


def parse_csv(text: str, *, kind: str, zone: ZoneInfo) -> list[Row]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        return _csv_rows(reader, kind=kind, zone=zone)
    except csv.Error as error:
        raise ReconcileError(f"line {reader.line_num}: not CSV: {error}") from None


def _csv_rows(reader, *, kind: str, zone: ZoneInfo) -> list[Row]:
    header = [cell.strip().lower() for cell in next(reader, [])]
    scales = _SCALES[kind]
    if len(header) != 2 or header[0] != "timestamp" or header[1] not in scales:
        got = f"{len(header)} columns" if len(header) != 2 else "other names"
        raise ReconcileError(f"line 1: expected the header timestamp,{'|'.join(scales)}, got {got}")
    scale, rows = scales[header[1]], []
    for cells in reader:
        where = f"line {reader.line_num}"
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != 2:
            raise ReconcileError(f"{where}: expected 2 columns (timestamp,value), got {len(cells)}")
        value = _number(cells[1], where) * scale
        rows.append(Row(where, _instant(cells[0], where, zone), None, _checked(value, kind, where)))
    return _nonempty(rows)


def parse_json(text: str, *, kind: str, zone: ZoneInfo) -> list[Row]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise ReconcileError(f"not valid JSON: {error.msg} at {where}") from None
    if not isinstance(items, list):
        raise ReconcileError('JSON input must be a list of {"start", "value"} or {"start", "end", "value"}')
    rows = []
    for i, item in enumerate(items, start=1):
        where = f"item {i}"
        if not isinstance(item, dict) or not {"start", "value"} <= item.keys() <= {"start", "end", "value"}:
            got = "other keys" if isinstance(item, dict) else f"a JSON {type(item).__name__}"
            raise ReconcileError(f'{where}: expected {{"start", "value"}} or {{"start", "end", "value"}}, '
                                 f"got {got}")
        start = _instant(item["start"], where, zone)
        end = _instant(item["end"], where, zone) if "end" in item else None
        if end is not None and end <= start:
            raise ReconcileError(f"{where}: its end is not after its start")
        rows.append(Row(where, start, end, _checked(_number(item["value"], where), kind, where)))
    return _nonempty(rows)


def _nonempty(rows: list[Row]) -> list[Row]:
    if not rows:
        raise ReconcileError("no values: the input has no data rows")
    return rows


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ReconcileError(f"{where}: the value is not a number")
    try:
        return float(raw.strip() if isinstance(raw, str) else raw)
    except ValueError:
        raise ReconcileError(f"{where}: the value is not a number") from None
    except OverflowError:  # a JSON integer of hundreds of digits
        raise ReconcileError(f"{where}: the value is not finite") from None


def _checked(value: float, kind: str, where: str) -> float:
    if not math.isfinite(value):
        raise ReconcileError(f"{where}: the value is not finite")
    if abs(value) > MAX_VALUE:
        raise ReconcileError(f"{where}: the value is beyond {MAX_VALUE:g} {UNITS[kind]}, the largest accepted")
    if value < 0 and kind != "price":
        raise ReconcileError(f"{where}: {kind} cannot be negative, got {value:g} W")
    return value


def _instant(raw: Any, where: str, zone: ZoneInfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except (AttributeError, ValueError):
        example = "2026-06-30T12:00+02:00"
        raise ReconcileError(f"{where}: the time is not an ISO 8601 timestamp ({example})") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ReconcileError(f"{where}: the time is outside the years {FIRST_YEAR} to {LAST_YEAR}")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(UTC)


def to_intervals(rows: list[Row], *, slot_s: int, zone: ZoneInfo) -> list[Interval]:
    """Sorted, contiguous intervals of `rows`; duplicates, overlaps and gaps are errors."""
    ordered = sorted(rows, key=lambda r: r.start)
    spacings = [(b.start - a.start).total_seconds() for a, b in zip(ordered, ordered[1:], strict=False)]
    step = min((s for s in spacings if s > 0), default=slot_s)
    intervals: list[Interval] = []
    for i, row in enumerate(ordered):
        if i and row.start == ordered[i - 1].start:
            raise ReconcileError(f"{row.where}: duplicate timestamp {_local(row.start, zone)} "
                                 f"(also on {ordered[i - 1].where})")
        end = row.end or row.start + timedelta(seconds=step)
        interval = Interval(row.start.timestamp(), end.timestamp(), row.value)
        if intervals and interval.start < intervals[-1].end:
            raise ReconcileError(f"{row.where}: overlaps {ordered[i - 1].where}, which lasts until "
                                 f"{_local(_utc(intervals[-1].end), zone)}")
        if intervals and interval.start > intervals[-1].end:
            raise ReconcileError(f"{row.where}: gap: no value from {_local(_utc(intervals[-1].end), zone)} "
                                 f"to {_local(row.start, zone)}")
        intervals.append(interval)
    return intervals


def resample(intervals: list[Interval], *, slot_s: int) -> list[Interval]:
    """The series on the home's slot grid: the time-weighted mean over the covered part of each
    slot, equal neighbours merged. `intervals` must be sorted and contiguous."""
    first, last = slot_floor(intervals[0].start, slot_s), slot_ceil(intervals[-1].end, slot_s)
    out: list[Interval] = []
    i = 0
    for a in range(int(first), int(last), slot_s):
        b = a + slot_s
        while intervals[i].end <= a:
            i += 1
        weight = total = 0.0
        j = i
        while j < len(intervals) and intervals[j].start < b:
            overlap = min(b, intervals[j].end) - max(a, intervals[j].start)
            weight, total = weight + overlap, total + overlap * intervals[j].value
            j += 1
        value = round(total / weight, 6)
        if out and out[-1].value == value:
            out[-1] = Interval(out[-1].start, float(b), value)
        else:
            out.append(Interval(float(a), float(b), value))
    return out


def prepare(text: str, *, kind: str, slot_s: int, zone: ZoneInfo) -> tuple[list[Row], list[Interval]]:
    """Parse, validate and resample: the rows read and the intervals to store. PURE."""
    rows = parse(text, kind=kind, zone=zone)
    intervals = to_intervals(rows, slot_s=slot_s, zone=zone)
    if intervals[-1].end - intervals[0].start > MAX_SPAN_S:
        raise ReconcileError(f"the series covers {(intervals[-1].end - intervals[0].start) / 86400:.0f} days, "
                             "more than 366, the longest accepted")
    return rows, resample(intervals, slot_s=slot_s)


def import_series(session: Session, *, home: Home, kind: str, text: str) -> Imported:
    """`wattplan forecast import KIND FILE`: replace the stored `kind` values the input covers."""
    rows, intervals = prepare(text, kind=check_kind(kind), slot_s=home.slot_s, zone=ZoneInfo(home.timezone))
    replace_series(session, home_id=home.id, kind=kind, intervals=intervals)
    return Imported(kind, len(rows), len(intervals), _utc(intervals[0].start), _utc(intervals[-1].end))


def replace_series(session: Session, *, home_id: int, kind: str, intervals: Sequence[Interval]) -> int:
    """Store `intervals` (sorted, contiguous) as the home's `kind` forecast over exactly the time
    they cover, [first start, last end); return how many rows were written.

    The new series replaces that time and nothing else: stored rows inside it are deleted, rows
    outside it are untouched, and a stored row straddling an edge is trimmed to its part outside
    (one reaching over both edges is split in two). Storing the same series twice changes nothing.
    """
    start, end = _utc(intervals[0].start), _utc(intervals[-1].end)
    mine = (Forecast.home_id == home_id, Forecast.kind == kind)
    straddling = session.execute(select(Forecast).where(*mine, Forecast.starts_at < start,
                                                        Forecast.ends_at > end)).scalars().all()
    for row in straddling:  # split in two around the new range
        session.add(Forecast(home_id=home_id, kind=kind, starts_at=end, ends_at=row.ends_at, value=row.value))
        row.ends_at = start
    session.flush()
    session.execute(update(Forecast).where(*mine, Forecast.starts_at < start, Forecast.ends_at > start)
                    .values(ends_at=start))
    session.execute(update(Forecast).where(*mine, Forecast.starts_at < end, Forecast.ends_at > end)
                    .values(starts_at=end))
    session.execute(delete(Forecast).where(*mine, Forecast.starts_at >= start, Forecast.ends_at <= end))
    session.add_all(Forecast(home_id=home_id, kind=kind, starts_at=_utc(i.start), ends_at=_utc(i.end),
                             value=i.value) for i in intervals)
    session.flush()
    return len(intervals)


def stored_series(session: Session, *, home: Home, kind: str | None = None, start: datetime | None = None,
                  end: datetime | None = None) -> list[dict]:
    """`wattplan forecast show`: stored intervals overlapping [start, end) as plain dicts, times in
    the home's timezone, ordered by kind then start."""
    zone = ZoneInfo(home.timezone)
    query = select(Forecast).where(Forecast.home_id == home.id)
    if kind is not None:
        query = query.where(Forecast.kind == check_kind(kind))
    if start is not None:
        query = query.where(Forecast.ends_at > start)
    if end is not None:
        query = query.where(Forecast.starts_at < end)
    rows = session.execute(query.order_by(Forecast.kind, Forecast.starts_at)).scalars()
    return [{"kind": r.kind, "start": _local(r.starts_at, zone), "end": _local(r.ends_at, zone),
             "value": r.value, "unit": UNITS[r.kind]} for r in rows]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="minutes")
