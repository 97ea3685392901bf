"""Durations, powers and times as people write them, parsed strictly (DESIGN.md, Interfaces).

Every parser raises `ReconcileError` with a one-line message naming the bad text, so the CLI and
the scenario loader report mistakes the same way.

Bounds no household reaches (README, "Bounds") are enforced here, so a mistyped value is refused
in one line instead of overflowing a date or filling memory: a duration is at most `MAX_DURATION_S`
(366 days), a time lies in the years 2000 to 2100.

Daylight saving (README, "Daylight saving"), the rule of iCalendar (RFC 5545, 3.3.5): a local
time (naive ISO 8601 or `HH:MM`) that does not exist, skipped when the clocks go forward, is read
with the offset from before the change (02:30 on a 02:00 -> 03:00 night is 03:30); one that
happens twice, when they go back, is the first. `dst_note` says which was read, for a warning.
"""

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reconcile.errors import ReconcileError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|m|s)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_POWER = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|nan|inf)\s*(kw|w)?\s*$", re.I)
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
MAX_DURATION_S = 366 * 86400
MAX_POWER_W = 10_000_000.0  # 10 MW: far above any house, far below where sums lose precision
MAX_ENERGY_WH = MAX_POWER_W * 48  # 480 MWh: the largest power for the longest program (48 h)
FIRST_YEAR, LAST_YEAR = 2000, 2100


def parse_duration(text: str, *, what: str = "duration") -> int:
    """Seconds in `90m`, `1h30m`, `4h`, `45s`, `2d` (or a bare number of seconds); always > 0."""
    cleaned = str(text).strip().lower().replace(" ", "")
    if cleaned.isdigit():
        seconds = float(cleaned)
    else:
        parts = _DURATION_PART.findall(cleaned)
        if not parts or "".join(n + u for n, u in parts) != cleaned:
            raise ReconcileError(f"{what} {text!r} is not a duration like 90m, 1h30m or 4h")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise ReconcileError(f"{what} {text!r} must be longer than zero")
    if not math.isfinite(seconds) or seconds > MAX_DURATION_S:
        raise ReconcileError(f"{what} {text!r} is longer than the longest accepted, 366d")
    if round(seconds) < 1:  # whole seconds are stored: 0.4s would become 0
        raise ReconcileError(f"{what} {text!r} is shorter than the shortest accepted, 1s")
    return round(seconds)


def parse_power(text: str | float, *, what: str = "power") -> float:
    """Watts in `2000`, `2000W`, `2kW`, `2.5 kW`; finite and > 0."""
    match = _POWER.match(str(text))
    if not match:
        raise ReconcileError(f"{what} {text!r} is not a power like 2000, 2000W or 2kW")
    value = float(match.group(1)) * (1000 if (match.group(2) or "").lower() == "kw" else 1)
    if not math.isfinite(value) or value <= 0:
        raise ReconcileError(f"{what} {text!r} must be a finite power above zero")
    if value > MAX_POWER_W:
        raise ReconcileError(f"{what} {text!r} is above the largest accepted power, 10MW")
    return value


_ENERGY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|nan|inf)\s*(kwh|wh)\s*$", re.I)
_CURRENT = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*a?\s*$", re.I)
_VOLTAGE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*v?\s*$", re.I)


def parse_energy(text: str, *, what: str = "energy") -> float:
    """Wh in `20kWh`, `500Wh`, `7.5 kWh` (the unit is required: a bare number is ambiguous); > 0."""
    match = _ENERGY.match(str(text))
    if not match:
        raise ReconcileError(f"{what} {text!r} is not an energy like 20kWh or 500Wh")
    value = float(match.group(1)) * (1000 if match.group(2).lower() == "kwh" else 1)
    if not math.isfinite(value) or value <= 0:
        raise ReconcileError(f"{what} {text!r} must be a finite energy above zero")
    if value > MAX_ENERGY_WH:  # else a duration derived from it overflows (1e308Wh: inf seconds)
        raise ReconcileError(f"{what} {text!r} is above the largest accepted energy, 480MWh")
    return value


def parse_current_range(text: str, *, phases: int, voltage: str) -> tuple[float, float, float]:
    """(min W, max W, step W) of a charger settable in whole amperes, `6-32A` on `phases` phases
    of `voltage` (phase to neutral): P = I × V × phases, one ampere per step."""
    match, volts = _CURRENT.match(str(text)), _VOLTAGE.match(str(voltage))
    if not match:
        raise ReconcileError(f"--current {text!r} is not a range of amperes like 6-32A")
    if not volts or not 50 <= float(volts.group(1)) <= 1000:
        raise ReconcileError(f"--voltage {voltage!r} is not a voltage between 50V and 1000V, like 230V")
    if phases not in (1, 3):
        raise ReconcileError(f"--phases {phases} is not 1 or 3")
    low, high, per_amp = float(match.group(1)), float(match.group(2)), float(volts.group(1)) * phases
    if not 0 < low <= high <= 1000:
        raise ReconcileError(f"--current {text!r} must go from above 0A up to at most 1000A")
    return low * per_amp, high * per_amp, per_amp


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (`Europe/Lisbon`)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReconcileError(f"unknown timezone {name!r}: use an IANA name like Europe/Lisbon") from None


def parse_time(text: str, *, now: datetime, zone: ZoneInfo, what: str = "time") -> datetime:
    """A UTC instant from ISO 8601 (naive means the home's zone) or `HH:MM` (next occurrence)."""
    clock = _CLOCK.match(text.strip())
    if clock:
        return _next_occurrence(int(clock.group(1)), int(clock.group(2)), now=now, zone=zone, text=text,
                                what=what)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReconcileError(f"{what} {text!r} is not ISO 8601 (2026-06-30T18:00) or HH:MM") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ReconcileError(f"{what} {text!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}")
    if parsed.tzinfo is None:
        parsed = local_instant(parsed, zone)
    return parsed.astimezone(UTC)


def local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time `wall` in `zone`: in a gap with the offset from before it, in a
    repeated hour the first (both are `fold=0`)."""
    return wall.replace(tzinfo=zone, fold=0)


def dst_note(text: str, instant: datetime, zone: ZoneInfo, *, what: str = "time") -> str | None:
    """What `parse_time` made of `text` when it is a local time the clocks skip or repeat, else None."""
    wall = _wall_time(text.strip(), instant, zone)
    if wall is None:
        return None
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    shown, read = f"{wall:%Y-%m-%d %H:%M}", instant.astimezone(zone)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:  # not on any clock: a gap
        return (f"{what} {shown} does not exist in {zone.key} (the clocks go forward): read as "
                f"{read:%H:%M} {read.tzname()}")
    return (f"{what} {shown} happens twice in {zone.key} (the clocks go back): read as the first, "
            f"{wall:%Y-%m-%dT%H:%M}{_offset(first)}; the second is {wall:%Y-%m-%dT%H:%M}{_offset(second)}")


def _wall_time(text: str, instant: datetime, zone: ZoneInfo) -> datetime | None:
    clock = _CLOCK.match(text)
    if clock:  # read as the first such wall time after the gap's start: the same local date
        local_day = (instant.astimezone(zone) - timedelta(hours=3)).date()
        for day in (local_day, local_day + timedelta(days=1)):
            wall = datetime.combine(day, time(int(clock.group(1)), int(clock.group(2))))
            if local_instant(wall, zone).astimezone(UTC) == instant:
                return wall
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is None else None


def _offset(moment: datetime) -> str:
    minutes = round(moment.utcoffset().total_seconds() / 60)
    sign, minutes = ("-", -minutes) if minutes < 0 else ("+", minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _next_occurrence(hour: int, minute: int, *, now: datetime, zone: ZoneInfo, text: str, what: str
                     ) -> datetime:
    if hour > 23 or minute > 59:
        raise ReconcileError(f"time {text!r} is not a clock time between 00:00 and 23:59")
    local_day: date = now.astimezone(zone).date()
    for offset in range(3):  # the next day always has the time, even across a DST change
        wall = datetime.combine(local_day + timedelta(days=offset), time(hour, minute))
        candidate = wall.replace(tzinfo=zone)
        if candidate.astimezone(UTC) > now:
            return local_instant(wall, zone).astimezone(UTC)
    raise AssertionError("unreachable: a clock time recurs within two days")


def format_duration(seconds: float) -> str:
    """`1h30m`, `45s`, `0s`: the inverse of `parse_duration`, rounded to seconds."""
    total = round(seconds)
    if total == 0:
        return "0s"
    sign, total = ("-", -total) if total < 0 else ("", total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return sign + text


def format_power(watts: float) -> str:
    """`2.5kW` from 2500, `800W` from 800."""
    if abs(watts) >= 1000:
        return f"{watts / 1000:.3g}kW"
    return f"{watts:.0f}W"


def utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; naive values (as SQLite returns them) are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
