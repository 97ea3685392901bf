"""Schedule quality in numbers: PURE functions of a load timeline and the execution records.

`reconcile.simulation.simulate` builds both (docs/simulation.md defines every metric exactly); nothing here
reads a database, a clock or a file, so the same inputs always give the same `Metrics` (except
`tick_time`, wall time measured by the simulator and passed in).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

EPS_W = 1e-6  # watts: float noise never makes a minute count as above the limit


@dataclass(frozen=True, slots=True)
class Span:
    """One stretch an appliance ran: from `start` to `end`, `offset_s` profile seconds done at start."""

    start: datetime
    end: datetime
    offset_s: float
    power_w: float | None = None  # a modulating run's setpoint over the stretch (None: its program)


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """What happened to one request. `ended_at`/`end_reason` are None when it was still open at the
    end of the simulation; `churn` and `decisions` are None under a policy without ticks."""

    label: str
    appliance: str
    program: str
    priority_class: int
    requested_at: datetime
    earliest_start: datetime
    latest_end: datetime | None
    spans: tuple[Span, ...]
    ended_at: datetime | None
    end_reason: str | None  # completed | done | cancelled | None (still open)
    pauses: int
    churn: int | None
    decisions: int | None

    @property
    def first_start(self) -> datetime | None:
        return self.spans[0].start if self.spans else None


@dataclass(frozen=True, slots=True)
class Timeline:
    """Piecewise-constant power from `start` to `end`: piece i lasts from bounds_s[i] to
    bounds_s[i + 1] (seconds after `start`). Every minute, forecast slot and profile slot boundary
    is a bound, so within a piece every value is constant. `mean_w[a][i]` is appliance a's mean
    draw in piece i, `peak_w[a][i]` its instantaneous maximum; price is None where unknown."""

    start: datetime
    end: datetime
    bounds_s: tuple[float, ...]
    base_w: tuple[float, ...]
    pv_w: tuple[float, ...]
    price: tuple[float | None, ...]
    appliances: tuple[str, ...]
    mean_w: tuple[tuple[float, ...], ...]
    peak_w: tuple[tuple[float, ...], ...]

    @property
    def pieces(self) -> int:
        return len(self.bounds_s) - 1

    def load_w(self, i: int) -> float:
        """Mean consumption (base + appliances) in piece i."""
        return self.base_w[i] + sum(series[i] for series in self.mean_w)

    def peak_import_w(self, i: int) -> float:
        """Highest instantaneous import in piece i: base + every appliance at its peak − PV."""
        return max(0.0, self.base_w[i] + sum(series[i] for series in self.peak_w) - self.pv_w[i])


@dataclass(frozen=True, slots=True)
class WaitStats:
    """Minutes from request to first start of the runs of one priority class that started."""

    priority_class: int
    runs: int
    mean_min: float
    p95_min: float
    max_min: float


@dataclass(frozen=True, slots=True)
class TickTimes:
    ticks: int
    mean_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True, slots=True)
class Metrics:
    peak_import_w: float
    minutes_above_limit: int
    energy_imported_kwh: float
    consumption_kwh: float
    appliance_kwh: float
    cost: float | None  # None: the scenario has no price at all
    uncosted_kwh: float  # imported where no price is known
    pv_kwh: float
    pv_self_consumption: float | None  # None: no PV
    self_sufficiency: float | None  # None: no consumption
    waits: tuple[WaitStats, ...]
    runs: int
    never_started: int
    deadline_misses: int
    lateness_min: float
    pauses: int
    plan_churn: int | None  # None: a policy without ticks
    decisions: int | None
    tick_time: TickTimes | None  # wall time: the one non-deterministic metric

    def without_timing(self) -> "Metrics":
        """Everything that must be equal between two runs of the same scenario."""
        return replace(self, tick_time=None)


def compute_metrics(timeline: Timeline, records: Sequence[ExecutionRecord], *, limit_w: float,
                    tick_ms: Sequence[float] = ()) -> Metrics:
    """All metrics of one simulated policy."""
    energy = energies(timeline)
    misses, lateness = deadline_misses(records, timeline.end)
    churns = [r.churn for r in records]
    decisions = [r.decisions for r in records]
    return Metrics(
        peak_import_w=peak_import_w(timeline),
        minutes_above_limit=minutes_above_limit(timeline, limit_w),
        energy_imported_kwh=energy["imported"], consumption_kwh=energy["consumed"],
        appliance_kwh=energy["appliances"], cost=energy["cost"], uncosted_kwh=energy["uncosted"],
        pv_kwh=energy["pv"], pv_self_consumption=_share(energy["pv_used"], energy["pv"]),
        self_sufficiency=_share(energy["pv_used"], energy["consumed"]),
        waits=waits_by_class(records), runs=len(records),
        never_started=sum(1 for r in records if not r.spans),
        deadline_misses=misses, lateness_min=lateness,
        pauses=sum(r.pauses for r in records),
        plan_churn=None if None in churns else sum(churns),
        decisions=None if None in decisions else sum(decisions),
        tick_time=tick_times(tick_ms),
    )


def peak_import_w(timeline: Timeline) -> float:
    """The highest instantaneous grid import of the whole timeline, W."""
    return max((timeline.peak_import_w(i) for i in range(timeline.pieces)), default=0.0)


def minutes_above_limit(timeline: Timeline, limit_w: float) -> int:
    """Minutes (counted from `start`) in which the instantaneous import exceeds the limit at any moment."""
    return len(minutes_above(timeline, limit_w))


def minutes_above(timeline: Timeline, limit_w: float) -> list[int]:
    """The indexes (0 = the minute opening at `start`) of the minutes above the limit, in order."""
    total = math.ceil(timeline.bounds_s[-1] / 60 - 1e-9)
    above: set[int] = set()
    for i in range(timeline.pieces):
        if timeline.peak_import_w(i) > limit_w + EPS_W:
            first = math.floor(timeline.bounds_s[i] / 60)
            last = math.ceil(timeline.bounds_s[i + 1] / 60 - 1e-9)
            above.update(range(first, min(last, total)))
    return sorted(above)


def energies(timeline: Timeline) -> dict[str, float | None]:
    """kWh imported, consumed, drawn by appliances, generated and used on site by PV; import cost."""
    sums = dict.fromkeys(("imported", "consumed", "appliances", "pv", "pv_used", "uncosted"), 0.0)
    cost, priced = 0.0, False
    for i in range(timeline.pieces):
        hours = (timeline.bounds_s[i + 1] - timeline.bounds_s[i]) / 3600
        load, pv = timeline.load_w(i), timeline.pv_w[i]
        imported = max(0.0, load - pv) * hours / 1000
        sums["imported"] += imported
        sums["consumed"] += load * hours / 1000
        sums["appliances"] += sum(series[i] for series in timeline.mean_w) * hours / 1000
        sums["pv"] += pv * hours / 1000
        sums["pv_used"] += min(load, pv) * hours / 1000
        price = timeline.price[i]
        if price is None:
            sums["uncosted"] += imported
        else:
            cost, priced = cost + imported * price, True
    return {**sums, "cost": cost if priced else None}


def waits_by_class(records: Sequence[ExecutionRecord]) -> tuple[WaitStats, ...]:
    """Wait from request to first start, per priority class, of the runs that started."""
    by_class: dict[int, list[float]] = {}
    for record in records:
        if record.first_start is not None:
            wait = (record.first_start - record.requested_at).total_seconds() / 60
            by_class.setdefault(record.priority_class, []).append(wait)
    return tuple(
        WaitStats(klass, len(waits), sum(waits) / len(waits), percentile(waits, 95), max(waits))
        for klass, waits in sorted(by_class.items())
    )


def deadline_misses(records: Sequence[ExecutionRecord], end: datetime) -> tuple[int, float]:
    """(runs still open at their deadline, total minutes from deadline to when they closed).

    A run left open at the end of the simulation counts once its deadline is at or before the end
    (a deadline at the end itself is missed: the run is not done by it), late until the end; one
    whose deadline lies after the end is not judged.
    """
    misses, late_s = 0, 0.0
    for record in records:
        deadline = record.latest_end
        if deadline is None:
            continue
        closed = record.ended_at if record.ended_at is not None else end
        if closed > deadline or (record.ended_at is None and deadline <= end):
            misses += 1
            late_s += (closed - deadline).total_seconds()
    return misses, late_s / 60


def tick_times(tick_ms: Sequence[float]) -> TickTimes | None:
    if not tick_ms:
        return None
    return TickTimes(len(tick_ms), sum(tick_ms) / len(tick_ms), percentile(tick_ms, 95), max(tick_ms))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _share(part: float | None, whole: float | None) -> float | None:
    return None if not whole else part / whole
