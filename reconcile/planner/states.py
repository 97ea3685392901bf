"""The run state machine, written once: every state change of an execution as a value.

    pending ──start──▶ running ◀──resume── paused
                          │ ───pause───────▶ │
                          ├─complete─▶ finished (profile over, at the instant it ended)
    running or paused ────├─done─────▶ finished (the user says the appliance finished early)
    any open state ───────└─cancel───▶ cancelled (the user stopped it)
    running or paused ──lapse──▶ the same state, its record restarted at `at` (see `plan.lapse`)
    running (modulating) ──set──▶ running at a new setpoint (told as a `resume` with its power)

A running run's progress counts only time some decision vouched for: up to its `covered_until`
(the newest tick's `now` + DECISION_TTL_S; after that an actuator switches it off). So a run is
recorded complete only for time it could have run, and progress never decreases.

`transition(run, event, at)` is the only place that computes a next state. The tick's plan
returns its transitions, the store writes them as they are, `requests.end` (cancel, done) and the
simulator go through it, and the tests' idempotence property applies them with `advance`.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reconcile.planner.domain import DECISION_TTL_S, OPEN_STATES, Run, Transition

EVENTS = ("start", "pause", "resume", "complete", "done", "cancel", "lapse", "set")
_ALLOWED = {  # event -> the states it may happen in
    "start": ("pending",),
    "pause": ("running",),
    "resume": ("paused",),
    "complete": ("running",),
    "done": ("running", "paused"),
    "cancel": OPEN_STATES,
    "lapse": ("running", "paused"),
}
_ENDS = {"complete": ("finished", "completed"), "done": ("finished", "done"), "cancel": ("cancelled", "cancelled")}


class RefusedTransition(ValueError):
    """An event the run's state does not allow (the shell turns it into a one-line error)."""


def covered(run: Run, last_tick_at: datetime | None, now: datetime) -> Run:
    """`run` with the instant its progress counts up to, seen from `now`.

    Every tick that keeps a run running renews it: its decisions are valid until the newest
    tick's `now` + DECISION_TTL_S. From a `now` behind the newest tick (the clock came back),
    nothing after that tick's own instant is vouched for.
    """
    if run.state != "running" or last_tick_at is None:
        return run
    until = last_tick_at if now < last_tick_at else last_tick_at + timedelta(seconds=DECISION_TTL_S)
    return replace(run, covered_until=until)


def progress_at(run: Run, now: float) -> float:
    """Profile seconds done at `now`: a running run advances with the clock (never backwards),
    but not past its `covered_until`."""
    if run.state != "running" or run.state_since is None:
        return run.progress_s
    if run.covered_until is not None:
        now = min(now, run.covered_until.timestamp())
    return run.progress_s + max(0.0, now - run.state_since.timestamp()) * rate(run)


def rate(run: Run) -> float:
    """Profile seconds a running run does per second: 1, or a modulating run's setpoint over its
    maximum (its profile is its energy at full power)."""
    if not run.modulating or run.power_w is None:
        return 1.0
    return max(0.0, run.power_w) / run.max_power_w


def completed_at(run: Run, now: float) -> datetime | None:
    """The instant a running run's profile was over, if it is over by `now`."""
    if run.state != "running" or progress_at(run, now) < run.shape.duration_s:
        return None
    since = run.state_since.timestamp() if run.state_since else now
    speed = rate(run)  # 0 only for a setpoint of 0 W, which never advances it past where it was
    left = (run.shape.duration_s - run.progress_s) / speed if speed > 0 else 0.0
    return datetime.fromtimestamp(round(since + left, 6), UTC)


def transition(run: Run, event: str, at: datetime, power_w: float | None = None) -> Transition:
    """The state `event` at `at` leads `run` to; progress never goes backwards.

    `power_w`: a modulating run's setpoint from a start or resume; the `resume` of a running
    modulating run is a change of setpoint (event `set`): its progress is counted at the old
    setpoint up to `at`, then runs at the new one.

    A user's `done` or `cancel` of a running run whose profile was already over by `at` is the
    profile's own completion, at the instant it ended: the history says what really happened.
    """
    if event == "resume" and run.state == "running" and run.modulating and power_w is not None:
        return Transition(run.id, "set", "running", at, progress_at(run, at.timestamp()), power_w=power_w)
    if run.state not in _ALLOWED.get(event, ()):
        raise RefusedTransition(_refusal(run, event))
    if event in ("done", "cancel") and (over := completed_at(run, at.timestamp())) is not None:
        return _end(run, "complete", over, run.shape.duration_s)
    if event == "complete":
        return _end(run, event, completed_at(run, at.timestamp()) or at, run.shape.duration_s)
    if event in _ENDS:
        ended = max(at, run.state_since) if run.state_since else at
        return _end(run, event, ended, progress_at(run, at.timestamp()))
    if event == "pause":
        return Transition(run.id, event, "paused", at, progress_at(run, at.timestamp()),
                          power_w=0.0 if run.modulating else None)
    if event == "lapse":
        return Transition(run.id, event, run.state, at, _counted(run, at))
    started = at if event == "start" else None
    return Transition(run.id, event, "running", at, run.progress_s, started_at=started, power_w=power_w)


def _counted(run: Run, at: datetime) -> float:
    """A lapsing run's progress: a running one's counted to the end of its cover (not to `at`,
    which is after it, or, when the clock came back, before the run's own record)."""
    until = run.covered_until or at
    return progress_at(run, until.timestamp())


def _end(run: Run, event: str, at: datetime, progress: float) -> Transition:
    state, reason = _ENDS[event]
    return Transition(run.id, event, state, at, progress, ended_at=at, end_reason=reason)


def _refusal(run: Run, event: str) -> str:
    if event == "done" and run.state == "pending":
        return "has not started"
    if event not in EVENTS:
        return f"{event!r} is not an event of a run"
    return f"cannot {event} a {run.state} run"


def advance(run: Run, change: Transition) -> Run | None:
    """`run` as the store loads it after writing `change`: None once it has ended."""
    if change.ends:
        return None
    command = change.event
    if command == "lapse":  # a lapsed running run is told to resume (or paused next); a paused one is told nothing
        command = "resume" if change.state == "running" else run.last_command
    if command == "set":  # a new setpoint is told as a resume at that power
        command = "resume"
    power_w = run.power_w if change.power_w is None else change.power_w
    return replace(run, state=change.state, state_since=change.state_since, progress_s=change.progress_s,
                   last_command=command, covered_until=None, power_w=power_w)
