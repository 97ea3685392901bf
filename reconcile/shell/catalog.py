"""The home, its appliances and their programs: created and changed by people through the CLI.

Settings that could never work are refused with both numbers (README, "Bounds"): a slot outside
1 minute to 1 hour, a horizon beyond 7 days, a reserve not below the limit, a limit below a
program's peak; a program longer than 48 hours or of more than 2880 slots; a name that is empty,
longer than 64 characters, or holds characters that are not printable (newlines, escapes).
"""

import math
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from models import OBJECTIVES, PLANNERS, Appliance, Execution, Home, Profile
from reconcile.errors import ReconcileError
from reconcile.shell.store import SEVERAL_HOMES, chosen_home, load_home
from reconcile.shell.topic_ids import check_free, unique_topic_id
from reconcile.units import format_duration, format_power, parse_zone

MIN_SLOT_S, MAX_SLOT_S = 60, 3600
MAX_HORIZON_S = 7 * 86400
MAX_PROGRAM_S = 48 * 3600
MAX_PROGRAM_SLOTS = 2880
MAX_NAME = 64


def init_home(session: Session, *, now: datetime, limit_w: float | None, timezone: str | None,
              slot_s: int | None = None, horizon_s: int | None = None, reserve_w: float | None = None,
              objective: str | None = None, planner: str | None = None) -> tuple[Home, bool]:
    """Create the session's home (`store.chosen_home`; "home" when none is named), or update the
    settings given; returns (home, created)."""
    name = chosen_home(session)
    query = select(Home).where(Home.name == name) if name is not None else select(Home).order_by(Home.id).limit(2)
    found = session.execute(query.with_for_update()).scalars().all()
    if len(found) > 1:
        raise ReconcileError(SEVERAL_HOMES)
    created = not found
    if created:
        if limit_w is None or timezone is None:
            raise ReconcileError("a new home needs --limit and --timezone")
        check_name(name or "home", "a home")
        home = Home(name=name or "home", limit_w=limit_w, timezone=timezone, created_at=now, updated_at=now)
    else:
        home = found[0]
    settings = {"limit_w": limit_w, "timezone": timezone, "slot_s": slot_s, "horizon_s": horizon_s,
                "reserve_w": reserve_w, "objective": objective, "planner": planner}
    for name, value in settings.items():
        if value is not None:
            setattr(home, name, value)
    check_home(home)
    _check_limit_fits_programs(session, home)
    home.updated_at = now
    session.add(home)
    session.flush()
    return home, created


def check_home(home) -> None:
    """Refuse, in one line, home settings that can never be planned (the bounds in the README)."""
    parse_zone(home.timezone)
    if not MIN_SLOT_S <= home.slot_s <= MAX_SLOT_S:
        raise ReconcileError(f"slot {format_duration(home.slot_s)} is not between 1m and 1h")
    if home.horizon_s > MAX_HORIZON_S:
        raise ReconcileError(f"horizon {format_duration(home.horizon_s)} is longer than the longest accepted, 7d")
    if home.horizon_s < home.slot_s:
        raise ReconcileError(f"horizon {home.horizon_s}s is shorter than one slot ({home.slot_s}s)")
    if home.objective not in OBJECTIVES:
        raise ReconcileError(f"unknown objective {home.objective!r}: choose {', '.join(OBJECTIVES)}")
    if home.planner not in PLANNERS:
        raise ReconcileError(f"unknown planner {home.planner!r}: choose {', '.join(PLANNERS)}")
    if home.reserve_w < 0 or not math.isfinite(home.reserve_w):
        raise ReconcileError("the reserve must be a finite power of zero or more")
    if home.reserve_w >= home.limit_w:
        reserve, limit = _both(home.reserve_w, home.limit_w)
        raise ReconcileError(f"a reserve of {reserve} leaves nothing of the {limit} limit: nothing could ever run")


def _check_limit_fits_programs(session: Session, home: Home) -> None:
    if home.id is None:
        return
    top = session.execute(select(Profile, Appliance.name).join(Appliance, Profile.appliance_id == Appliance.id)
                          .where(Profile.home_id == home.id).order_by(Profile.peak_w.desc())).first()
    if top is not None and top[0].peak_w > home.limit_w:
        limit, peak = _both(home.limit_w, top[0].peak_w)
        raise ReconcileError(f"a limit of {limit} is below the {peak} peak of program {top[0].name!r} of "
                             f"{top[1]!r}: it could never run (remove it first, or keep the limit at {peak} or more)")


def _both(first: float, second: float) -> tuple[str, str]:
    """Two powers as people read them; in watts when rounding would make them look equal."""
    said = (format_power(first), format_power(second))
    return said if said[0] != said[1] else (f"{first:g}W", f"{second:g}W")


def check_name(name: str, what: str) -> None:
    """A name people type and read back: not empty, printable, at most `MAX_NAME` characters."""
    if not name.strip():
        raise ReconcileError(f"{what} needs a name")
    if not name.isprintable():
        raise ReconcileError(f"{what} name {name!r} holds characters that are not printable (newlines, tabs, "
                             "escapes)")
    if len(name) > MAX_NAME:
        raise ReconcileError(f"{what} name is {len(name)} characters long, more than {MAX_NAME}")


def add_appliance(session: Session, *, now: datetime, name: str, interruptible: bool = False,
                  min_run_s: int = 0, min_pause_s: int = 0, priority_class: int = 5,
                  max_delay_s: int | None = None, power_range: tuple | None = None, topic_id: str | None = None,
                  default_energy_wh: float | None = None) -> Appliance:
    """A new appliance of the home; names are unique per home, and so are topic ids (`topic_id`;
    None: derived from the name). `power_range` (min W, max W, step W or None) makes it
    modulating: its runs ask for energy (`default_energy_wh` when a request names none), its one
    program is `charge`."""
    home = load_home(session)
    check_name(name, "an appliance")
    if find_appliance(session, home.id, name, required=False) is not None:
        raise ReconcileError(f"appliance {name!r} already exists")
    check_priority_class(priority_class)
    if power_range is not None and (min_run_s or min_pause_s):
        raise ReconcileError("--min-run and --min-pause do not apply to a modulating appliance (it pauses at 0 W)")
    if not interruptible and power_range is None and (min_run_s or min_pause_s):
        raise ReconcileError("--min-run and --min-pause apply only to an --interruptible appliance")
    low, high, step = check_power_range(*power_range, home.limit_w) if power_range else (None, None, None)
    if default_energy_wh is not None and power_range is None:
        raise ReconcileError(NOT_MODULATING)
    topic_id = unique_topic_id(session, home.id, name) if topic_id is None else check_free(session, home.id, topic_id)
    appliance = Appliance(home_id=home.id, name=name, interruptible=interruptible or power_range is not None,
                          min_run_s=min_run_s, min_pause_s=min_pause_s, priority_class=priority_class,
                          max_delay_s=max_delay_s, created_at=now, min_power_w=low, max_power_w=high,
                          power_step_w=step, topic_id=topic_id, default_energy_wh=default_energy_wh)
    session.add(appliance)
    session.flush()
    if high is not None:  # an execution names a program: a modulating one's is its full power
        add_profile(session, now=now, appliance=name, name=CHARGE, slot_s=60, watts=[high],
                    source="modulating: its maximum power; runs ask for --energy")
    return appliance


CHARGE = "charge"  # the one program of a modulating appliance
NOT_MODULATING = ("--default-energy is for a modulating appliance (--max-power or --current): a program's runs "
                  "take the program's energy")


def check_power_range(low: float, high: float, step: float | None, limit_w: float) -> tuple:
    """A modulating appliance's (min, max, step) W, refused in one line when it can never work."""
    if low > high:
        raise ReconcileError(f"--min-power {format_power(low)} is above --max-power {format_power(high)}")
    check_fits(CHARGE, high, limit_w)
    if step is not None and step > max(high - low, 0) and high > low:
        raise ReconcileError(f"--step {format_power(step)} is larger than the range "
                             f"{format_power(low)}-{format_power(high)}")
    return low, high, step


def check_priority_class(value: int) -> None:
    if not 1 <= value <= 10:
        raise ReconcileError(f"priority class {value} is not between 1 and 10")


def find_appliance(session: Session, home_id: int, name: str, *, required: bool = True) -> Appliance | None:
    appliance = session.execute(
        select(Appliance).where(Appliance.home_id == home_id, Appliance.name == name)
    ).scalars().first()
    if appliance is None and required:
        raise ReconcileError(f"unknown appliance {name!r}: `wattplan appliance list` shows them")
    return appliance


def remove_appliance(session: Session, *, name: str) -> None:
    """Remove an appliance and its programs; refused while any execution refers to it."""
    home = load_home(session)
    appliance = find_appliance(session, home.id, name)
    used = session.execute(select(func.count()).select_from(Execution)
                           .where(Execution.appliance_id == appliance.id)).scalar()
    if used:
        raise ReconcileError(f"appliance {name!r} has {used} execution(s) in its history; it cannot be removed")
    for profile in programs_of(session, appliance.id):
        session.delete(profile)
    session.delete(appliance)


def programs_of(session: Session, appliance_id: int) -> list[Profile]:
    return list(session.execute(select(Profile).where(Profile.appliance_id == appliance_id)
                                .order_by(Profile.name)).scalars())


def add_profile(session: Session, *, now: datetime, appliance: str, name: str, slot_s: int,
                watts: Sequence[float], peak_watts: Sequence[float] | None = None,
                source: str | None = None) -> Profile:
    """A program: `watts` mean power per `slot_s` slot; `peak_watts` the instantaneous maximum."""
    home = load_home(session)
    owner = find_appliance(session, home.id, appliance)
    check_name(name, "a program")
    peaks = list(peak_watts) if peak_watts is not None else list(watts)
    _check_curve(watts, peaks, slot_s)
    peak = max(max(w, p) for w, p in zip(watts, peaks, strict=True))  # what is stored as peak_w
    check_fits(name, peak, home.limit_w)
    if any(p.name == name for p in programs_of(session, owner.id)):
        raise ReconcileError(f"appliance {appliance!r} already has a program {name!r}")
    profile = Profile(home_id=home.id, appliance_id=owner.id, name=name, slot_s=slot_s,
                      watts=[float(w) for w in watts],
                      peak_watts=[float(max(w, p)) for w, p in zip(watts, peaks, strict=True)],
                      duration_s=slot_s * len(watts), energy_wh=round(sum(watts) * slot_s / 3600, 3),
                      peak_w=float(max(max(watts), peak)), source=source, created_at=now)
    session.add(profile)
    session.flush()
    return profile


def check_fits(program: str, peak_w: float, limit_w: float) -> None:
    """Refuse a program whose peak is above the limit: it could never run."""
    if peak_w > limit_w:
        peak, limit = _both(peak_w, limit_w)
        raise ReconcileError(f"program {program!r} peaks at {peak}, above the home's limit of {limit}: "
                             "it could never run")


def _check_curve(watts: Sequence[float], peaks: Sequence[float], slot_s: int) -> None:
    if not watts:
        raise ReconcileError("a program needs at least one power value")
    if len(watts) * slot_s > MAX_PROGRAM_S:
        raise ReconcileError(f"a program of {format_duration(len(watts) * slot_s)} is longer than the "
                             "longest accepted, 48h")
    if len(watts) > MAX_PROGRAM_SLOTS:
        raise ReconcileError(f"a program of {len(watts)} slots has more than {MAX_PROGRAM_SLOTS}: "
                             "use a longer --slot")
    if len(peaks) != len(watts):
        raise ReconcileError(f"{len(peaks)} peak values for {len(watts)} power values")
    for value in (*watts, *peaks):
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ReconcileError(f"power {value!r} must be a finite number of watts, zero or more")
    if max(peaks) <= 0:
        raise ReconcileError("a program must draw some power: every value is zero")


def find_program(session: Session, appliance: Appliance, name: str | None) -> Profile:
    """The named program, or the appliance's only program when no name is given."""
    programs = programs_of(session, appliance.id)
    if name is None:
        if len(programs) == 1:
            return programs[0]
        names = ", ".join(p.name for p in programs) or "none yet: `wattplan profile add`"
        raise ReconcileError(f"appliance {appliance.name!r} has several programs; name one of: {names}"
                             if programs else f"appliance {appliance.name!r} has no program ({names})")
    for program in programs:
        if program.name == name:
            return program
    raise ReconcileError(f"unknown program {name!r} for appliance {appliance.name!r}")
