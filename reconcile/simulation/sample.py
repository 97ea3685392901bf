"""A scenario's home, appliances, programs and forecasts written into the database.

Used by `wattplan init --sample`. It only adds what is missing (an appliance or program of the
same name is kept as it is) and replaces the forecast values over the time each series covers
(`forecasts.replace_series`), so loading twice changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from reconcile.planner.domain import Interval
from reconcile.shell.catalog import add_appliance, add_profile, find_appliance, init_home, programs_of
from reconcile.shell.forecasts import replace_series
from reconcile.simulation.scenario_types import Scenario, Series
from reconcile.units import parse_zone


@dataclass(frozen=True, slots=True)
class Loaded:
    appliances: int  # added now (existing ones are kept)
    programs: int
    forecasts: int  # forecast rows written
    shift_days: int  # how many days the forecasts were moved to reach the day of `now`
    created: bool  # the home was created (not only updated)


def load_into_db(session: Session, scenario: Scenario, now: datetime, *,
                 settings: dict[str, Any] | None = None) -> Loaded:
    """Write `scenario` into the home (created if needed; `settings` override its home values).

    Forecasts are re-dated by whole days so that the scenario's first day becomes the local day
    of `now`: a tick run today then sees the sample's sun and prices.
    """
    h = scenario.home
    values = {"limit_w": h.limit_w, "timezone": h.timezone, "slot_s": h.slot_s, "horizon_s": h.horizon_s,
              "reserve_w": h.reserve_w, "objective": h.objective}
    values.update({k: v for k, v in (settings or {}).items() if v is not None})
    home, created = init_home(session, now=now, **values)
    added_appliances = added_programs = 0
    for a in scenario.appliances:
        if find_appliance(session, home.id, a.name, required=False) is None:
            add_appliance(session, now=now, name=a.name, interruptible=a.interruptible,
                          min_run_s=a.min_run_s, min_pause_s=a.min_pause_s, priority_class=a.priority_class,
                          max_delay_s=a.max_delay_s, power_range=a.power_range)
            added_appliances += 1
    for p in scenario.programs:
        owner = find_appliance(session, home.id, p.appliance)
        if all(existing.name != p.name for existing in programs_of(session, owner.id)):
            add_profile(session, now=now, appliance=p.appliance, name=p.name, slot_s=p.slot_s, watts=p.watts,
                        peak_watts=p.peak_watts, source=p.source or None)
            added_programs += 1
    zone = parse_zone(home.timezone)
    shift = (now.astimezone(zone).date() - scenario.start.astimezone(zone).date()).days
    rows = sum(replace_series(session, home_id=home.id, kind=s.kind,
                              intervals=series_intervals(s, timedelta(days=shift)))
               for s in scenario.forecasts)
    return Loaded(added_appliances, added_programs, rows, shift, created)


def series_intervals(series: Series, shift: timedelta = timedelta(0)) -> list[Interval]:
    """`series` moved by `shift` as one interval per slot (epoch seconds), for `replace_series`."""
    start, step = series.start + shift, timedelta(seconds=series.slot_s)
    return [Interval((start + k * step).timestamp(), (start + (k + 1) * step).timestamp(), value)
            for k, value in enumerate(series.values)]
