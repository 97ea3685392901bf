"""The measured household import corrects the capacity of the slot holding `now`. PURE.

A meter reads the whole house: what wattplan's running runs draw plus everything else (the
unmanaged load, net of PV). So the unmanaged load is the reading minus what the running runs
should draw at the reading's instant, and slot 0 can hold `limit − unmanaged`. A run switched on
less than `grace_s` before the reading may not draw yet (a relay, a motor's ramp): its draw is not
subtracted, so the reading's own part of it counts as unmanaged (cautious for one tick, never
optimistic). A reading older than `max_age_s` (or none) is unknown: slot 0 then holds only what
already runs, so nothing new starts on it.
"""

from datetime import datetime

from reconcile.planner.domain import Meter, Run, Snapshot
from reconcile.planner.states import progress_at


def fresh(meter: Meter, now: float) -> bool:
    """Whether `meter`'s reading may be acted on at `now` (not older than its maximum age)."""
    return meter.import_w is not None and meter.at is not None and now - meter.at.timestamp() <= meter.max_age_s


def metered_capacity(snapshot: Snapshot, now: float, forecast_w: float) -> float:
    """Slot 0's capacity: from the fresh reading, else no more than what the running runs need."""
    meter = snapshot.meter
    if meter is not None and fresh(meter, now):
        unmanaged = meter.import_w - managed_w(snapshot.runs, meter.at, meter.grace_s)
        return snapshot.home.limit_w - unmanaged
    running = sum(_peak_ahead(run, now, snapshot.home.slot_s) for run in snapshot.runs if run.state == "running")
    return min(forecast_w, running)


def managed_w(runs: tuple[Run, ...], at: datetime, grace_s: int) -> float:
    """What the running runs should draw at `at`, leaving out those switched on within `grace_s`."""
    total = 0.0
    for run in runs:
        if run.state != "running" or run.state_since is None:
            continue
        if 0 <= (at - run.state_since).total_seconds() < grace_s:
            continue
        total += power_at(run, at.timestamp())
    return total


def power_at(run: Run, at: float) -> float:
    """The mean power `run` draws at `at` if running: its setpoint, or its program's slot."""
    if _setpoint(run) is not None:
        return _setpoint(run)
    watts = run.shape.watts
    index = int(progress_at(run, at) // run.shape.slot_s)
    return watts[index] if 0 <= index < len(watts) else 0.0


def _peak_ahead(run: Run, now: float, slot_s: int) -> float:
    """The highest peak of `run`'s program over the next slot from its progress at `now`."""
    if _setpoint(run) is not None:
        return _setpoint(run)
    done = progress_at(run, now)
    first = int(done // run.shape.slot_s)
    last = int((done + slot_s) // run.shape.slot_s)
    return max(run.shape.peaks[first:last + 1], default=0.0)


def _setpoint(run: Run) -> float | None:
    """A modulating run's setpoint (issue 11's `Run.power_w`; None for on/off appliances)."""
    return getattr(run, "power_w", None) if getattr(run, "max_power_w", None) is not None else None
