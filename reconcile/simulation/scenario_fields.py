"""Typed field readers for the scenario loader (`reconcile.simulation.scenario`). Not public API.

Each reads one key of a TOML or JSON table, checks its type and range, converts it (durations,
powers, instants in UTC) and fails with `scenario NAME: PATH: PROBLEM` and nothing else, PATH
naming the field (`appliances[2].priority_class`). `Table` is one table of the file being read;
`Clock` says how its times read. The values they build are in `scenario_types`.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

from reconcile.errors import ReconcileError
from reconcile.units import parse_duration, parse_power, parse_time

T = TypeVar("T")

REQUIRED: Any = object()
_CLOCK = re.compile(r"^(?:\+(\d+)d\s+)?(\d{1,2}):(\d{2})$")
_ZERO_POWER = re.compile(r"^\s*0+(?:\.0*)?\s*(?:k?w)?\s*$", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # parse_time needs a `now`; ISO text never uses it
_TIME_FORMS = "ISO 8601 (2026-06-30T18:00+02:00), HH:MM or +1d HH:MM"


@dataclass(frozen=True, slots=True)
class Clock:
    """How scenario times read: naive ones in `zone`; `HH:MM` and `+Nd HH:MM` on `day` (the local
    date of `start`) plus N days. While `start` itself is read, day is None: no clock forms."""

    zone: ZoneInfo
    day: date | None


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the file being read; `path` names it in messages ("" for the top level)."""

    data: dict[str, Any]
    path: str
    source: str

    @classmethod
    def top(cls, data: Any, source: str) -> "Table":
        if not isinstance(data, dict):
            raise ReconcileError(f"scenario {source}: the top level must be a table, got {show(data)}")
        return cls(data, "", source)

    def where(self, key: str | None) -> str:
        return ".".join(part for part in (self.path, key) if part)

    def fail(self, key: str | None, problem: str) -> NoReturn:
        where = self.where(key)
        raise ReconcileError(f"scenario {self.source}: {where + ': ' if where else ''}{problem}")

    def allow(self, keys: tuple[str, ...]) -> None:
        """Reject typos: every key must be one of `keys`."""
        for key in self.data:
            if key not in keys:
                self.fail(None, f"unknown key {key!r}; allowed: {', '.join(keys)}")

    def get(self, key: str, default: Any = REQUIRED) -> Any:
        if key in self.data:
            return self.data[key]
        if default is REQUIRED:
            self.fail(key, "required key is missing")
        return default

    def attempt(self, key: str, parse: Callable[[], T]) -> T:
        """parse(), with a units.py error prefixed by this field's path."""
        try:
            return parse()
        except ReconcileError as error:
            self.fail(key, str(error))

    def table(self, key: str) -> "Table":
        value = self.get(key)
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, got {show(value)}")
        return Table(value, self.where(key), self.source)


def show(value: Any) -> str:
    """A value as the user wrote it, on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def tables(t: Table, key: str) -> list[Table]:
    """The array of tables `key` ([[key]] in TOML); absent means empty."""
    value = t.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        t.fail(key, f"must be an array of tables ([[{key}]]), got {show(value)}")
    return [Table(item, f"{t.where(key)}[{i}]", t.source) for i, item in enumerate(value)]


def text(t: Table, key: str, default: Any = REQUIRED, *, choices: tuple[str, ...] = (),
         allow_empty: bool = False) -> Any:
    if key not in t.data:
        return t.get(key, default)
    value = t.data[key]
    if not isinstance(value, str):
        t.fail(key, f"must be a string, got {show(value)}")
    if not allow_empty and not value.strip():
        t.fail(key, "must not be empty")
    if choices and value not in choices:
        t.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def boolean(t: Table, key: str, default: Any = REQUIRED) -> bool:
    value = t.get(key, default)
    if not isinstance(value, bool):
        t.fail(key, f"must be true or false, got {show(value)}")
    return value


def integer(t: Table, key: str, low: int, high: int, default: Any = REQUIRED) -> Any:
    if key not in t.data:
        return t.get(key, default)
    value = t.data[key]
    if type(value) is not int or not low <= value <= high:
        t.fail(key, f"must be an integer from {low} to {high}, got {show(value)}")
    return value


def duration(t: Table, key: str, default: Any = REQUIRED) -> Any:
    """Seconds (> 0) from `90m`, `1h30m` or a bare integer number of seconds."""
    if key not in t.data:
        return t.get(key, default)
    value = t.data[key]
    if type(value) not in (str, int):
        t.fail(key, f"must be a duration like 90m, 1h30m or 4h, got {show(value)}")
    return t.attempt(key, lambda: parse_duration(str(value)))


def power(t: Table, key: str, default: Any = REQUIRED, *, allow_zero: bool = False) -> Any:
    """Watts (> 0, or >= 0 with allow_zero) from `2000`, `2000W`, `2kW` or a number."""
    if key not in t.data:
        return t.get(key, default)
    value = t.data[key]
    if type(value) not in (str, int, float):
        t.fail(key, f"must be a power like 2000, 2000W or 2kW, got {show(value)}")
    if allow_zero and _ZERO_POWER.match(str(value)):
        return 0.0
    return t.attempt(key, lambda: parse_power(value))


def numbers(t: Table, key: str, *, nonnegative: bool, default: Any = REQUIRED) -> Any:
    """A non-empty tuple of finite floats (each >= 0 when nonnegative)."""
    if key not in t.data:
        return t.get(key, default)
    values = t.data[key]
    if not isinstance(values, list) or not values:
        t.fail(key, f"must be a non-empty array of numbers, got {show(values)}")
    for i, value in enumerate(values):
        if type(value) not in (int, float) or not math.isfinite(value):
            t.fail(f"{key}[{i}]", f"must be a finite number, got {show(value)}")
        if nonnegative and value < 0:
            t.fail(f"{key}[{i}]", f"must not be negative, got {value:g}")
    return tuple(float(value) for value in values)


def instant(t: Table, key: str, clock: Clock, default: Any = REQUIRED) -> Any:
    """A UTC instant from a TOML date-time or local time, or a string in one of _TIME_FORMS."""
    if key not in t.data:
        return t.get(key, default)
    value = t.data[key]
    if isinstance(value, datetime):
        # Naive means the home's zone (PEP 495 fold=0: the first of a repeated hour).
        return (value if value.tzinfo else value.replace(tzinfo=clock.zone)).astimezone(UTC)
    if isinstance(value, time) and clock.day is not None:
        return _on_day(clock, 0, value)
    if isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if match and clock.day is not None:
            hour, minute = int(match[2]), int(match[3])
            if hour > 23 or minute > 59:
                t.fail(key, f"{value!r} is not a clock time between 00:00 and 23:59")
            return _on_day(clock, int(match[1] or 0), time(hour, minute))
        if not match:
            try:
                return parse_time(value, now=_EPOCH, zone=clock.zone)
            except ReconcileError:
                pass
    forms = _TIME_FORMS if clock.day is not None else "an ISO 8601 date and time (2026-06-30T00:00+02:00)"
    t.fail(key, f"must be {forms}, got {show(value)}")


def _on_day(clock: Clock, days: int, clock_time: time) -> datetime:
    assert clock.day is not None
    local = datetime.combine(clock.day + timedelta(days=days), clock_time, tzinfo=clock.zone)
    return local.astimezone(UTC)
