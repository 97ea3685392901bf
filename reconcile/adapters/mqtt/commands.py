"""What one checked command does, through the same functions as `wattplan enqueue`, `cancel` and `done`.

Invariants: a command acts only on the appliance its topic names. An `execution_id` names a run of
that appliance in this home, or the command is refused (0 and negative numbers are ids that never
exist, not "no id"). A request for a modulating appliance asks for an energy: the payload's, else
the appliance's `default_energy_wh`, else "to full" (`to_full_wh`).
"""

from datetime import datetime

from sqlalchemy import select

from models import Appliance, Execution
from reconcile.errors import ReconcileError
from reconcile.planner.domain import OPEN_STATES
from reconcile.shell import requests
from reconcile.shell.catalog import MAX_PROGRAM_S
from reconcile.units import format_duration, format_power, parse_duration, parse_time


def apply_command(session, home_id: int, appliance: Appliance, action: str, body: dict, now: datetime,
                  zone) -> tuple[int, str]:
    """Apply one command to `appliance`: (execution id, what was done)."""
    if action == "request":
        return _request(session, appliance, body, now, zone)
    reason = "cancelled" if action == "cancel" else "done"
    if "execution_id" in body:
        execution_id = body["execution_id"]
        _check_belongs(session, home_id, appliance, execution_id)
    else:
        execution_id = _open_run(session, home_id, appliance, action)
    requests.end(session, now=now, execution_id=execution_id, reason=reason)
    return execution_id, f"{reason} execution #{execution_id}"


def _request(session, appliance: Appliance, body: dict, now: datetime, zone) -> tuple[int, str]:
    within = body.get("within")
    not_before = _time(body.get("not_before"), now, zone, "not_before")
    by = _time(body.get("by"), now, zone, "by")
    within_s = None if within is None else parse_duration(str(within), what="within")
    energy, how = _energy(appliance, body.get("energy"), max(now, not_before or now), by, within_s)
    request = requests.Request(
        appliance=appliance.name, program=body.get("program"), not_before=not_before, within_s=within_s, by=by,
        priority_class=body.get("priority_class"), objective=body.get("objective"), energy_wh=energy)
    execution = requests.enqueue(session, now=now, request=request)
    said = f"enqueued execution #{execution.id}"
    return execution.id, said + (f" ({energy / 1000:g} kWh, {how})" if energy is not None else "")


def _energy(appliance: Appliance, asked: float | None, start: datetime, by: datetime | None,
            within_s: int | None) -> tuple[float | None, str]:
    """(Wh, where it came from) of a request; (None, "") for an appliance that runs programs."""
    if appliance.max_power_w is None:
        if asked is not None:
            raise ReconcileError(f"{appliance.name!r} does not modulate: a request for it takes no energy, "
                                 "it runs its program")
        return None, ""
    if asked is not None:
        return asked, "asked"
    if appliance.default_energy_wh is not None:
        return appliance.default_energy_wh, "the appliance's default energy"
    return to_full_wh(appliance.max_power_w, start, by, within_s)


def to_full_wh(max_power_w: float, start: datetime, by: datetime | None, within_s: int | None) -> tuple[float, str]:
    """"To full" for a modulating appliance without a default energy: what it takes at its maximum
    power from the run's start to its deadline (`by` or `within`), or for 48 h (the longest run
    accepted) without one. wattplan does not know the battery: the run ends when reported done
    (the car is full) or when that energy is delivered."""
    window_s = MAX_PROGRAM_S
    if by is not None and by > start:
        window_s = min(window_s, round((by - start).total_seconds()))
    elif within_s is not None:
        window_s = min(window_s, within_s)
    return max_power_w * window_s / 3600, (f"to full: {format_duration(window_s)} at "
                                           f"{format_power(max_power_w)}")


def _check_belongs(session, home_id: int, appliance: Appliance, execution_id: int) -> None:
    """Refuse an id that is not a run of `appliance` in this home (any other run: wrong topic)."""
    owner = None
    if 1 <= execution_id <= requests.MAX_ID:
        owner = session.execute(select(Execution.appliance_id).where(
            Execution.id == execution_id, Execution.home_id == home_id)).scalar()
    if owner != appliance.id:
        raise ReconcileError(f"{appliance.name!r} has no execution #{execution_id} (an id on "
                             f"{appliance.topic_id}/… must be one of its runs: `wattplan list --all`)")


def _open_run(session, home_id: int, appliance: Appliance, action: str) -> int:
    """The run a cancel or done without an id means: the appliance's running or paused run, else
    (cancel only) its oldest pending one."""
    states = ("running", "paused") if action == "done" else OPEN_STATES
    rows = session.execute(select(Execution.id, Execution.state).where(
        Execution.home_id == home_id, Execution.appliance_id == appliance.id, Execution.state.in_(states))
        .order_by(Execution.id)).all()
    rows.sort(key=lambda row: row.state == "pending")
    if not rows:
        raise ReconcileError(f"{appliance.name} has no {'started' if action == 'done' else 'open'} run")
    return rows[0].id


def _time(text: str | None, now: datetime, zone, what: str) -> datetime | None:
    return None if text is None else parse_time(text, now=now, zone=zone, what=what)

