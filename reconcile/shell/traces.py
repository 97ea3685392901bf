"""A measured power trace (CSV) resampled into a profile: mean AND peak power per slot.

The file (README, "profile add --csv") has a header row naming a time column and a power column;
other columns are ignored. Each row is one sample. The columns are found by name, first match
wins, or named with `--time-column` and `--power-column`:

- time: `offset` is the time since the cycle started, in seconds (`90`, `12.5`) or as a duration
  (`90s`, `1m30s`); the first row is at 0 and offsets strictly increase. Any other time column
  (`timestamp`, `time`, `last_changed` as Home Assistant exports it, `datetime`) holds ISO 8601
  times (`2026-06-30T10:00:05+02:00`; naive ones are read as UTC: only differences count) or Unix
  seconds, strictly increasing; the first row is the cycle's start.
- power: `watts`, `power`, `state` (Home Assistant) or `value`: the power from that row until the
  next row's, a number of watts (`2000`, `2kW`), zero or more. Rows whose power is empty,
  `unavailable` or `unknown` (Home Assistant's words for no reading) are skipped. A file with an
  `entity_id` column must hold one entity.

The last sample lasts as long as the interval before it (one slot if it is the only row). A
slot's mean is its energy divided by the slot length (a last, partial slot is padded with 0 W,
so the energy of the cycle is kept); its peak is the highest sample that overlaps it. A trace
longer than the longest program (48 h) is refused. Errors name the file and the line, never the
file's text.
"""

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconcile.errors import ReconcileError
from reconcile.shell.catalog import MAX_PROGRAM_S
from reconcile.shell.textfile import read_text
from reconcile.units import parse_duration, parse_power

_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
_ZERO_DURATION = re.compile(r"^\s*0+(?:\.0*)?\s*[dhms]?\s*$", re.IGNORECASE)
_ZERO_POWER = re.compile(r"^\s*0+(?:\.0*)?\s*(?:k?w)?\s*$", re.IGNORECASE)
TIME_COLUMNS = ("offset", "timestamp", "time", "last_changed", "datetime")
POWER_COLUMNS = ("watts", "power", "state", "value")
_NO_READING = ("", "unavailable", "unknown")


@dataclass(frozen=True, slots=True)
class Trace:
    """A profile read from a trace: `watts` (mean) and `peaks` per `slot_s` slot."""

    slot_s: int
    watts: tuple[float, ...]
    peaks: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Columns:
    """The time and power columns chosen by name (`--time-column`, `--power-column`), else found."""

    time: str | None = None
    power: str | None = None


def read_trace(path: Path, *, slot_s: int, columns: Columns = Columns()) -> Trace:
    """The trace in the CSV file `path`, resampled to `slot_s` slots."""
    content = read_text(path, failure=f"cannot read {path}", encoding="utf-8-sig")
    return resample(parse_samples(content, source=path.name, columns=columns), slot_s=slot_s)


def trace_from_text(content: str, *, source: str, slot_s: int, columns: Columns = Columns()) -> Trace:
    """The trace in `content` (standard input), resampled to `slot_s` slots."""
    return resample(parse_samples(content.lstrip("\ufeff"), source=source, columns=columns), slot_s=slot_s)


def parse_samples(content: str, *, source: str, columns: Columns = Columns()) -> list[tuple[float, float]]:
    """(offset seconds, watts) per data row; errors name the file and line, never its text."""
    reader = csv.reader(io.StringIO(content))
    try:
        header = [name.strip().lower() for name in next(reader, None) or []]
        at = _column(header, columns.time, TIME_COLUMNS, source)
        power_at = _column(header, columns.power, POWER_COLUMNS, source)
        entity_at = header.index("entity_id") if "entity_id" in header else None
        return _samples(reader, header, at, power_at, entity_at, source)
    except csv.Error as error:
        raise ReconcileError(f"{source} line {reader.line_num}: not CSV: {error}") from None


def _column(header: list[str], chosen: str | None, known: tuple[str, ...], source: str) -> int:
    what = "time" if known is TIME_COLUMNS else "power"
    if chosen is not None:
        if chosen.strip().lower() not in header:
            raise ReconcileError(f"{source}: the header has no column {chosen!r} (--{what}-column)")
        return header.index(chosen.strip().lower())
    for name in known:
        if name in header:
            return header.index(name)
    raise ReconcileError(f"{source}: the header (line 1) names no {what} column ({', '.join(known)}); "
                         f"name it with --{what}-column")


def _samples(reader, header: list[str], at: int, power_at: int, entity_at: int | None,
             source: str) -> list[tuple[float, float]]:
    offsets = header[at] == "offset"
    samples: list[tuple[float, float]] = []
    first_time, entity = None, None
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(at, power_at, entity_at or 0):
            raise ReconcileError(f"{source} line {line}: expected {len(header)} columns, got {len(row)}")
        if entity_at is not None:
            if entity not in (None, row[entity_at].strip()):
                raise ReconcileError(f"{source} line {line}: a second entity_id; export one entity's history")
            entity = row[entity_at].strip()
        if row[power_at].strip().lower() in _NO_READING:
            continue
        watts = _watts(row[power_at], source, line)
        if offsets:
            offset = _offset(row[at], source, line)
            if not samples and offset != 0:
                raise ReconcileError(f"{source} line {line}: the first offset must be 0")
        else:
            moment = _moment(row[at], source, line)
            first_time = moment if first_time is None else first_time
            offset = moment - first_time
        if samples and offset <= samples[-1][0]:
            raise ReconcileError(f"{source} line {line}: the {header[at]} is not after the previous row's")
        if offset > MAX_PROGRAM_S:
            raise ReconcileError(f"{source} line {line}: the trace lasts longer than 48h, the longest program")
        samples.append((offset, watts))
    if not samples:
        raise ReconcileError(f"{source}: no samples after the header")
    if not any(watts > 0 for _, watts in samples):
        raise ReconcileError(f"{source}: every sample is 0 W; a program must draw some power")
    return samples


def parse_watts(text: str, *, what: str = "--watts") -> list[float]:
    """Watts from `2000,2000,500` (each like `2000`, `2kW` or `0`): mean power per slot."""
    values = []
    for i, item in enumerate(text.split(","), start=1):
        if _ZERO_POWER.match(item):
            values.append(0.0)
            continue
        try:
            values.append(parse_power(item))
        except ReconcileError:
            raise ReconcileError(f"{what} value {i} ({item.strip()!r}) is not a finite power of zero or "
                                 "more, like 2000 or 2kW") from None
    return values


def _offset(text: str, source: str, line: int) -> float:
    if _ZERO_DURATION.match(text):
        return 0.0
    if _NUMBER.match(text) and math.isfinite(float(text)):
        return float(text)
    try:
        return float(parse_duration(text, what="offset"))
    except ReconcileError:
        raise ReconcileError(f"{source} line {line}: the offset is not seconds (90) or a duration "
                             "(90s, 1m30s) of at most 48h") from None


def _moment(text: str, source: str, line: int) -> float:
    """Seconds since the epoch of an ISO 8601 time (naive: UTC) or of a number of Unix seconds."""
    try:
        if _NUMBER.match(text) and math.isfinite(float(text)):
            return float(text)
        parsed = datetime.fromisoformat(text.strip())
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        raise ReconcileError(f"{source} line {line}: the time is not ISO 8601 (2026-06-30T10:00:05+02:00) "
                             "or Unix seconds") from None


def _watts(text: str, source: str, line: int) -> float:
    if _ZERO_POWER.match(text):
        return 0.0
    try:
        return parse_power(text, what="watts")
    except ReconcileError:
        raise ReconcileError(f"{source} line {line}: the power is not a finite power of zero or more "
                             "(2000, 2kW)") from None


def resample(samples: list[tuple[float, float]], *, slot_s: int) -> Trace:
    """Mean (energy / slot) and peak per slot of a step function given by `samples`."""
    last_length = samples[-1][0] - samples[-2][0] if len(samples) > 1 else slot_s
    ends = [offset for offset, _ in samples[1:]] + [samples[-1][0] + last_length]
    slots = math.ceil(ends[-1] / slot_s - 1e-9)
    energy, peaks = [0.0] * slots, [0.0] * slots
    for (start, watts), end in zip(samples, ends, strict=True):
        first, last = int(start // slot_s), min(slots, math.ceil(end / slot_s - 1e-9))
        for k in range(first, max(last, first + 1)):
            overlap = min(end, (k + 1) * slot_s) - max(start, k * slot_s)
            if overlap > 0:
                energy[k] += watts * overlap
                peaks[k] = max(peaks[k], watts)
    means = tuple(round(joules / slot_s, 3) for joules in energy)
    return Trace(slot_s, means, tuple(max(p, m) for p, m in zip(peaks, means, strict=True)))
