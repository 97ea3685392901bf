"""A measured power trace (CSV) resampled into a profile: mean AND peak power per slot.

The file (README, "profile add --csv") has a header row naming at least the columns `offset`
and `watts`; other columns are ignored. Each row is one sample:

- `offset`: time since the cycle started, in seconds (`90`, `12.5`) or as a duration (`90s`,
  `1m30s`); the first row is at 0 and offsets strictly increase;
- `watts`: the power from that offset until the next row's, a number of watts (`2000`, `2kW`),
  zero or more.

The last sample lasts as long as the interval before it (one slot if it is the only row). A
slot's mean is its energy divided by the slot length (a last, partial slot is padded with 0 W,
so the energy of the cycle is kept); its peak is the highest sample that overlaps it.
"""

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from reconcile.errors import ReconcileError
from reconcile.shell.textfile import read_text
from reconcile.units import parse_duration, parse_power

_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
_ZERO_DURATION = re.compile(r"^\s*0+(?:\.0*)?\s*[dhms]?\s*$", re.IGNORECASE)
_ZERO_POWER = re.compile(r"^\s*0+(?:\.0*)?\s*(?:k?w)?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Trace:
    """A profile read from a trace: `watts` (mean) and `peaks` per `slot_s` slot."""

    slot_s: int
    watts: tuple[float, ...]
    peaks: tuple[float, ...]


def read_trace(path: Path, *, slot_s: int) -> Trace:
    """The trace in the CSV file `path`, resampled to `slot_s` slots."""
    content = read_text(path, failure=f"cannot read {path}", encoding="utf-8-sig")
    return resample(parse_samples(content, source=path.name), slot_s=slot_s)


def parse_samples(content: str, *, source: str) -> list[tuple[float, float]]:
    """(offset seconds, watts) per data row; errors name the file and line."""
    reader = csv.reader(io.StringIO(content))
    header = next(reader, None)
    columns = [name.strip().lower() for name in header or []]
    if "offset" not in columns or "watts" not in columns:
        found = ",".join(header or []) or "an empty file"
        raise ReconcileError(f"{source}: the header must name the columns offset and watts, got {found!r}")
    at, watts_at = columns.index("offset"), columns.index("watts")
    samples: list[tuple[float, float]] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(at, watts_at):
            raise ReconcileError(f"{source} line {line}: expected {len(columns)} columns, got {len(row)}")
        offset, watts = _offset(row[at], source, line), _watts(row[watts_at], source, line)
        if not samples and offset != 0:
            raise ReconcileError(f"{source} line {line}: the first offset must be 0, got {row[at].strip()!r}")
        if samples and offset <= samples[-1][0]:
            raise ReconcileError(f"{source} line {line}: offset {row[at].strip()!r} is not after the "
                                 "previous one")
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
    if _NUMBER.match(text):
        return float(text)
    try:
        return float(parse_duration(text, what="offset"))
    except ReconcileError:
        raise ReconcileError(f"{source} line {line}: offset {text.strip()!r} is not seconds (90) "
                             "or a duration (90s, 1m30s)") from None


def _watts(text: str, source: str, line: int) -> float:
    if _ZERO_POWER.match(text):
        return 0.0
    try:
        return parse_power(text, what="watts")
    except ReconcileError:
        raise ReconcileError(f"{source} line {line}: watts {text.strip()!r} is not a finite power of "
                             "zero or more (2000, 2kW)") from None


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
