"""Frozen values the planner works on: what `store.load_snapshot` reads and `plan` returns.

Instants are aware UTC datetimes at the edges; the planner converts them to epoch seconds.
"""

from dataclasses import dataclass, field
from datetime import datetime

DECISION_TTL_S = 120  # two tick periods: a decision not acted on by then is stale
# How far behind the newest tick a `now` may be and still be the same clock running behind: the
# tick plans at the newest tick's instant (nothing replays). Further behind, the newest tick's
# instant is taken as a clock jump that has been undone, and the tick plans at `now`. An hour: a
# Raspberry Pi's fake-hwclock restores a time saved hourly, so it comes back up to an hour behind.
CLOCK_STEP_BACK_S = 3600

# The execution states, named once for the code (models.STATES keeps the schema's CHECK list).
OPEN_STATES = ("pending", "running", "paused")  # a run the planner still places or runs
ENDED_STATES = ("finished", "cancelled")  # a run that is over: never planned again


@dataclass(frozen=True, slots=True)
class Home:
    id: int
    limit_w: float
    timezone: str
    slot_s: int = 60
    horizon_s: int = 86400
    reserve_w: float = 0.0
    objective: str = "asap"
    planner: str = "greedy"  # or "optimal": the exact reference (HiGHS), with a greedy fallback


@dataclass(frozen=True, slots=True)
class Shape:
    """A program's power curve: `watts` (mean) and `peaks` (instantaneous maximum) per slot."""

    slot_s: int
    watts: tuple[float, ...]
    peaks: tuple[float, ...]

    @property
    def duration_s(self) -> int:
        return self.slot_s * len(self.watts)

    @property
    def peak_w(self) -> float:
        return max(self.peaks)


@dataclass(frozen=True, slots=True)
class Run:
    """An open execution (pending, running or paused) as the planner sees it."""

    id: int
    appliance: str
    program: str
    interruptible: bool
    shape: Shape
    requested_at: datetime
    earliest_start: datetime
    priority_class: int
    state: str = "pending"
    state_since: datetime | None = None  # None: use requested_at
    progress_s: float = 0.0
    latest_end: datetime | None = None
    max_delay_s: int | None = None
    min_run_s: int = 0
    min_pause_s: int = 0
    objective: str | None = None
    last_command: str | None = None  # kind of the newest decision about this run
    # A running run's progress counts only up to here: the newest tick's `now` + DECISION_TTL_S,
    # after which no decision vouches for it and an actuator switches it off. None: not capped.
    covered_until: datetime | None = None
    # A modulating run (EV charger): max_power_w set. It asks for energy; its shape is that
    # energy at max_power_w, so progress_s counts seconds at full power, and a running run
    # advances at power_w / max_power_w of the clock (`states.progress_at`).
    min_power_w: float = 0.0
    max_power_w: float | None = None
    power_step_w: float | None = None
    power_w: float | None = None  # the setpoint it runs at (None: not modulating, or never set)

    @property
    def modulating(self) -> bool:
        return self.max_power_w is not None


@dataclass(frozen=True, slots=True)
class Ended:
    """A run that left `running` (finished or cancelled) whose appliance may still be on."""

    id: int
    state: str
    end_reason: str | None
    last_command: str | None


@dataclass(frozen=True, slots=True)
class Interval:
    start: float  # epoch seconds
    end: float
    value: float


@dataclass(frozen=True, slots=True)
class Meter:
    """The household's measured grid import (an MQTT meter, issue 12): it corrects slot 0's
    capacity (`planner.meter`). `import_w` None: never read."""

    import_w: float | None
    at: datetime | None  # when it was measured
    max_age_s: int = 60  # older: unknown, and nothing new starts on it
    grace_s: int = 60  # a run switched on less than this before the reading may not draw yet


@dataclass(frozen=True, slots=True)
class Snapshot:
    home: Home
    runs: tuple[Run, ...] = ()
    ended: tuple[Ended, ...] = ()
    pv: tuple[Interval, ...] = ()
    base: tuple[Interval, ...] = ()
    price: tuple[Interval, ...] = ()
    problems: tuple[str, ...] = ()  # rows the loader skipped, reported by the tick
    last_tick_at: datetime | None = None  # the newest tick's `now` (by id): see `plan.planning_instant`
    # The newest tick's timetable (planned segments by run): the incumbent that cost objectives
    # keep unless moving gains enough (`planner.incumbent`). Empty: plan from scratch.
    previous: "tuple[Placement, ...]" = ()
    meter: Meter | None = None  # None: no meter configured, capacity from the forecasts alone


@dataclass(frozen=True, slots=True)
class Finish:
    execution_id: int
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of a run (`planner.states.transition`), named after the execution columns
    it sets (None: left as it is)."""

    execution_id: int
    event: str
    state: str
    state_since: datetime
    progress_s: float
    started_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    power_w: float | None = None  # a modulating run's new setpoint (None: unchanged)

    @property
    def ends(self) -> bool:
        return self.ended_at is not None


@dataclass(frozen=True, slots=True)
class Segment:
    """A contiguous stretch of a planned run."""

    start: datetime
    end: datetime
    offset_s: float  # profile seconds done when the stretch starts
    energy_wh: float
    peak_w: float


@dataclass(frozen=True, slots=True)
class Placement:
    execution_id: int
    segments: tuple[Segment, ...]
    late_s: int | None = None  # how long after its deadline it ends (for a short run: at the earliest)
    # A run the grid cannot hold whole is short: the energy its segments leave out, and the
    # earliest instant it could end (the grid's end plus the profile time left). 0 / None: whole.
    short_wh: float = 0.0
    earliest_end: datetime | None = None
    missed_wh: float = 0.0  # energy not delivered by its deadline (late or short), 0 without one

    @property
    def short(self) -> bool:
        return self.earliest_end is not None

    @property
    def start(self) -> datetime:
        return self.segments[0].start

    @property
    def end(self) -> datetime:
        return self.segments[-1].end


@dataclass(frozen=True, slots=True)
class Unplaced:
    execution_id: int
    reason: str
    missed_wh: float = 0.0  # the energy the run still needs: none of it is planned


@dataclass(frozen=True, slots=True)
class Decision:
    execution_id: int
    kind: str  # start | pause | resume | stop
    reason: str
    # A modulating run's setpoint: start and resume carry it; a `resume` of a running run is a
    # change of setpoint (the newest start/resume always says what to draw now).
    power_w: float | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything one tick decided: the store writes it back in one transaction."""

    now: datetime  # the instant planned at (the last tick's, when the clock stepped back)
    transitions: tuple[Transition, ...] = ()  # every state change, completions first
    priorities: tuple[tuple[int, int], ...] = ()  # (execution id, priority)
    placements: tuple[Placement, ...] = ()
    unplaced: tuple[Unplaced, ...] = ()
    decisions: tuple[Decision, ...] = ()
    problems: tuple[str, ...] = field(default=())
    clock_behind_s: float = 0.0  # > 0: the given now was that far before the newest tick's
    clock_returned: bool = False  # behind by over CLOCK_STEP_BACK_S: planned at the given now, not the tick's

    @property
    def finished(self) -> tuple[Finish, ...]:
        """Runs whose profile was over, at the instant each ended."""
        return tuple(Finish(t.execution_id, t.ended_at) for t in self.transitions if t.event == "complete")
