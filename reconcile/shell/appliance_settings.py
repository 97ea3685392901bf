"""Changing an appliance's settings after it was added (`wattplan appliance set`).

Its topic id and a modulating appliance's default energy are read by each tick's MQTT path, so
they apply from the next tick.

The planner reads an appliance's settings at every tick, so most changes reach open runs at the
next tick: the power range's minimum and step, the minimum run and pause. Two do not:

- the priority class and the longest wait are copied into each request when it is made, so they
  apply to new requests;
- the maximum power of a modulating appliance is the unit its runs count progress in (seconds at
  full power: `models.Execution.energy_wh`), so it changes only while the appliance has no open
  run. Rescaling a run's progress here would be a state change, which only the planner makes.

An appliance that runs programs does not become modulating (nor the reverse): its runs ask for
a program, a modulating appliance's for energy; add a new appliance instead.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from models import Appliance, Execution
from reconcile.errors import ReconcileError
from reconcile.planner.domain import OPEN_STATES
from reconcile.shell import catalog
from reconcile.shell.catalog import CHARGE, check_power_range, check_priority_class, find_appliance, programs_of
from reconcile.shell.store import load_home
from reconcile.shell.topic_ids import check_free
from reconcile.units import format_power


@dataclass(frozen=True)
class Changes:
    """What `appliance set` was asked to change; None leaves a setting as it is."""

    min_power_w: float | None = None
    max_power_w: float | None = None
    power_step_w: float | None = None
    clear_step: bool = False  # any power in the range again
    min_run_s: int | None = None
    min_pause_s: int | None = None
    priority_class: int | None = None
    max_delay_s: int | None = None
    clear_max_delay: bool = False
    topic_id: str | None = None  # its MQTT topic level (`topic_ids`): unique in the home
    default_energy_wh: float | None = None  # modulating: the energy of a request that names none
    clear_default_energy: bool = False  # such a request charges to full again

    @property
    def touches_range(self) -> bool:
        """Whether the power range (minimum, maximum or step) is to change."""
        return (self.min_power_w, self.max_power_w, self.power_step_w) != (None, None, None) or self.clear_step


def change_appliance(session: Session, *, name: str, changes: Changes) -> Appliance:
    """Apply `changes` to appliance `name` of the chosen home, or refuse them all in one line."""
    home = load_home(session)
    appliance = find_appliance(session, home.id, name)
    if changes.touches_range:
        _change_power_range(session, appliance, changes, home.limit_w)
    if changes.min_run_s is not None or changes.min_pause_s is not None:
        _change_pauses(appliance, changes.min_run_s, changes.min_pause_s)
    if changes.priority_class is not None:
        check_priority_class(changes.priority_class)
        appliance.priority_class = changes.priority_class
    if changes.max_delay_s is not None or changes.clear_max_delay:
        appliance.max_delay_s = changes.max_delay_s
    if changes.topic_id is not None:
        appliance.topic_id = check_free(session, home.id, changes.topic_id, but=appliance.id)
    if changes.default_energy_wh is not None or changes.clear_default_energy:
        if appliance.max_power_w is None:
            raise ReconcileError(catalog.NOT_MODULATING)
        appliance.default_energy_wh = changes.default_energy_wh
    session.flush()
    return appliance


def _change_power_range(session: Session, appliance: Appliance, changes: Changes, limit_w: float) -> None:
    """The range's settings not given stay as they are."""
    if appliance.max_power_w is None:
        raise ReconcileError(f"appliance {appliance.name!r} runs programs and cannot become modulating: "
                             "add a new appliance with --max-power or --current")
    step = None if changes.clear_step else (changes.power_step_w or appliance.power_step_w)
    low, high, step = check_power_range(_given(changes.min_power_w, appliance.min_power_w or 0.0),
                                        _given(changes.max_power_w, appliance.max_power_w), step, limit_w)
    if high != appliance.max_power_w:
        open_run = _an_open_run(session, appliance)
        if open_run is not None:
            raise ReconcileError(
                f"run #{open_run} of {appliance.name!r} counts its progress at {format_power(appliance.max_power_w)}: "
                "finish or cancel it before changing --max-power (the minimum and step may change now)")
        for program in programs_of(session, appliance.id):
            if program.name == CHARGE:  # its one program is its full power (`catalog.add_appliance`)
                program.watts, program.peak_watts, program.peak_w = [high], [high], high
                program.energy_wh = round(high * program.slot_s / 3600, 3)
    appliance.min_power_w, appliance.max_power_w, appliance.power_step_w = low, high, step


def _given(value: float | None, current: float) -> float:
    return current if value is None else value


def _change_pauses(appliance: Appliance, min_run_s: int | None, min_pause_s: int | None) -> None:
    if appliance.max_power_w is not None:
        raise ReconcileError("--min-run and --min-pause do not apply to a modulating appliance (it pauses at 0 W)")
    if not appliance.interruptible:
        raise ReconcileError(f"--min-run and --min-pause apply only to an interruptible appliance; "
                             f"{appliance.name!r} is not")
    if min_run_s is not None:
        appliance.min_run_s = min_run_s
    if min_pause_s is not None:
        appliance.min_pause_s = min_pause_s


def _an_open_run(session: Session, appliance: Appliance) -> int | None:
    return session.execute(select(Execution.id).where(Execution.appliance_id == appliance.id,
                                                      Execution.state.in_(OPEN_STATES))
                           .order_by(Execution.id).limit(1)).scalar()


def extras(session: Session) -> dict[str, dict]:
    """Each appliance's settings the listing's view leaves out, by name: its topic id and default energy."""
    rows = session.execute(select(Appliance.name, Appliance.topic_id, Appliance.default_energy_wh)
                           .where(Appliance.home_id == load_home(session).id))
    return {name: {"topic_id": topic_id, "default_energy_wh": energy} for name, topic_id, energy in rows}
