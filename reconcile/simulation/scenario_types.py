"""The values a scenario file becomes (docs/scenario.md): frozen, validated, all times UTC.

`reconcile.simulation.scenario` builds them (with the field readers of `scenario_fields`); the
sample loader and the simulator only read them. Every invariant stated here is checked by the
loader, so consumers need not re-check.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Objective = Literal["asap", "cheapest", "solar"]
SeriesKind = Literal["pv", "base", "price"]
EndKind = Literal["done", "cancel"]

OBJECTIVES: tuple[Objective, ...] = ("asap", "cheapest", "solar")
SERIES_KINDS: tuple[SeriesKind, ...] = ("pv", "base", "price")
END_KINDS: tuple[EndKind, ...] = ("done", "cancel")


@dataclass(frozen=True, slots=True)
class ScenarioHome:
    """The grid connection: limit_w > 0, slot_s > 0, horizon_s a positive multiple of slot_s,
    reserve_w >= 0 (the unmanaged load assumed where no base series covers a slot)."""

    limit_w: float
    timezone: str
    slot_s: int
    horizon_s: int
    reserve_w: float
    objective: Objective


@dataclass(frozen=True, slots=True)
class ScenarioAppliance:
    """One appliance; min_run_s and min_pause_s are 0 unless interruptible; 1 <= priority_class <= 10;
    max_delay_s is None (no default delay) or > 0."""

    name: str
    interruptible: bool
    min_run_s: int
    min_pause_s: int
    priority_class: int
    max_delay_s: int | None
    # A modulating appliance (min_power, max_power, power_step in the file): (min W, max W, step W
    # or None), min <= max; its requests ask for an energy and run its program `charge`.
    power_range: tuple[float, float, float | None] | None = None


@dataclass(frozen=True, slots=True)
class ScenarioProgram:
    """One cycle of `appliance`: watts[i] is the mean power (W) of profile slot i, all >= 0 and at
    least one > 0; peak_watts, when given, has the same length and peak_watts[i] >= watts[i]."""

    appliance: str
    name: str
    slot_s: int
    watts: tuple[float, ...]
    peak_watts: tuple[float, ...] | None
    source: str

    @property
    def energy_kwh(self) -> float:
        """Energy of one whole cycle."""
        return sum(self.watts) * self.slot_s / 3_600_000


@dataclass(frozen=True, slots=True)
class Series:
    """A forecast from `start` (UTC) in slots of slot_s: pv and base in W (>= 0), price in currency
    per kWh (any finite value: prices can be negative). At least one value."""

    kind: SeriesKind
    start: datetime
    slot_s: int
    values: tuple[float, ...]

    @property
    def end(self) -> datetime:
        """The instant just after the last slot."""
        return self.start + timedelta(seconds=self.slot_s * len(self.values))


@dataclass(frozen=True, slots=True)
class Request:
    """The user asks for a run at `at`. program is always filled by the loader (the appliance's first
    program when the file omits it). within_s and by are never both set; by is after not_before
    (when given) and after at. None means "the appliance's or home's default"."""

    at: datetime
    label: str
    appliance: str
    program: str | None
    not_before: datetime | None
    within_s: int | None
    by: datetime | None
    priority_class: int | None
    objective: Objective | None
    energy_wh: float | None = None  # a modulating appliance's request: the energy to deliver


@dataclass(frozen=True, slots=True)
class EndEarly:
    """The user ends the run of the earlier request `label`: `done` (it finished early) or `cancel`."""

    at: datetime
    label: str
    kind: EndKind


@dataclass(frozen=True, slots=True)
class ForecastUpdate:
    """A new forecast becomes known at `at`; it replaces its kind over exactly the time it covers
    (`forecasts.replace_series`: older values outside that time stay)."""

    at: datetime
    series: Series


Event = Request | EndEarly | ForecastUpdate


@dataclass(frozen=True, slots=True)
class Scenario:
    """A home and a timeline. start < end (UTC aware); events are sorted by `at` (ties keep file
    order), each inside [start, end]; names, program names per appliance and labels are unique;
    at most one forecast per kind."""

    version: int
    name: str
    start: datetime
    end: datetime
    home: ScenarioHome
    appliances: tuple[ScenarioAppliance, ...]
    programs: tuple[ScenarioProgram, ...]
    forecasts: tuple[Series, ...]
    events: tuple[Event, ...]
    description: str
