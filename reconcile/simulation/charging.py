"""Modulating runs in a simulation (EV charges): how long they take, what they draw, when.

A modulating run's decisions carry its setpoint: each start or resume (a resume of a running run
is a new setpoint) opens a stretch at that power until the next decision. Its progress is
counted in seconds at the appliance's maximum power, as the planner counts it, so a stretch at
half power advances it half as fast, and the run is over when the energy asked for is in.
"""

from datetime import datetime, timedelta

from reconcile.simulation.metrics import Span
from reconcile.simulation.scenario_types import Scenario, ScenarioAppliance


def modulating(scenario: Scenario, appliance: str) -> ScenarioAppliance | None:
    """The scenario's appliance named `appliance` if it modulates."""
    return next((a for a in scenario.appliances if a.name == appliance and a.power_range), None)


def run_duration(scenario: Scenario, row, durations: dict[tuple[str, str], int]) -> float:
    """Seconds the run of `row` takes at full power: its program's, or its energy at the maximum."""
    charger = modulating(scenario, row.appliance)
    if charger is None or row.energy_wh is None:
        return durations[row.appliance, row.program]
    return max(1, round(row.energy_wh * 3600 / charger.power_range[1]))


def setpoint_spans(decisions: list[tuple[str, datetime, float | None]], duration_s: float, max_w: float,
                   close: datetime) -> tuple[Span, ...]:
    """Constant-power stretches of a modulating run from its (kind, at, power) decisions; the
    last one ends at `close` or when the energy is in, whichever is first."""
    spans: list[Span] = []
    opened: tuple[datetime, float] | None = None
    done = 0.0  # seconds at full power
    for kind, at, power in [*decisions, ("pause", close, None)]:
        if opened is not None and (kind in ("pause", "stop") or (kind == "resume" and power is not None)):
            start, watts = opened
            rate = watts / max_w
            end = min(at, close, start + timedelta(seconds=(duration_s - done) / rate)) if rate > 0 else start
            if end > start:
                spans.append(Span(start, end, done, watts))
                done += (end - start).total_seconds() * rate
            opened = None
        if kind in ("start", "resume") and at < close and done < duration_s - 1e-3:
            opened = (at, power if power is not None else max_w)
    return tuple(spans)


def charged_s(spans: tuple[Span, ...], max_w: float) -> float:
    """Seconds at full power the stretches delivered."""
    return sum((s.end - s.start).total_seconds() * (s.power_w or max_w) / max_w for s in spans)
