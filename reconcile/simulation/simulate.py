"""Replaying a scenario: the real tick against a real throwaway SQLite database, minute by minute.

`simulate(scenario, policy=...)` returns a frozen `SimulationResult`: what each run did, the load
of every appliance over time and the metrics of `reconcile.simulation.metrics`. Two policies:

- `wattplan`: a temporary database is migrated and loaded with the scenario; a virtual clock
  advances from `start` to `end` one tick (60 s) at a time; the events of each minute go through
  `reconcile.shell.requests` at their own instants, then `run_tick` runs at the minute. The runs'
  stretches are read back from the decisions the ticks wrote.
- `immediate`: no scheduler. Every run starts when it may (its request, or `not_before`) and
  runs to its end or until the user ends it. The same requests are enqueued in a database so
  that deadlines and classes are exactly those of `wattplan enqueue`, but no tick runs.

Either way a running appliance draws what its profile says at its progress, and both policies
share one world: the forecasts with every update applied (docs/simulation.md).
"""

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, event
from sqlmodel import Session

from reconcile.errors import ReconcileError
from reconcile.planner.domain import ENDED_STATES
from reconcile.shell import forecasts, requests
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.migrate import upgrade
from reconcile.shell.store import load_home
from reconcile.shell.tick import run_tick
from reconcile.simulation.charging import run_duration
from reconcile.simulation.history import (
    TICK_S,
    build_timeline,
    count_churn,
    executions,
    planned_starts,
    program_durations,
    records_from_db,
)
from reconcile.simulation.metrics import ExecutionRecord, Metrics, Span, Timeline, compute_metrics
from reconcile.simulation.sample import load_into_db, series_intervals
from reconcile.simulation.scenario_types import EndEarly, ForecastUpdate, Request, Scenario, Series

POLICIES = ("wattplan", "immediate", "optimal")  # optimal: the tick with the exact planner
END_REASONS = {"done": "done", "cancel": "cancelled"}  # scenario end kind → execution end_reason

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """One scenario under one policy: plain values only (`comparison.result_as_dict` for JSON)."""

    scenario: str
    policy: str
    start: datetime
    end: datetime
    timezone: str
    limit_w: float
    executions: tuple[ExecutionRecord, ...]  # in request order
    timeline: Timeline
    metrics: Metrics
    tick_ms: tuple[float, ...]  # wall time of each tick (empty without ticks)
    notes: tuple[str, ...]  # events that could not apply as written, and why


def simulate(scenario: Scenario, *, policy: str = "wattplan", progress: Progress | None = None
             ) -> SimulationResult:
    """Replay `scenario` under `policy`; `progress(done, total)` is called after every tick."""
    if policy not in POLICIES:
        raise ReconcileError(f"unknown policy {policy!r}: choose {', '.join(POLICIES)}")
    with tempfile.TemporaryDirectory(prefix="wattplan-simulate-") as folder:
        engine = scratch_engine(Path(folder) / "simulation.db")
        try:
            replay = _immediate if policy == "immediate" else _wattplan
            records, tick_ms, notes = replay(engine, scenario, progress, planner=_PLANNERS.get(policy))
        finally:
            engine.dispose()
    timeline = build_timeline(scenario, records)
    metrics = compute_metrics(timeline, records, limit_w=scenario.home.limit_w, tick_ms=tick_ms)
    return SimulationResult(scenario.name, policy, scenario.start, scenario.end, scenario.home.timezone,
                            scenario.home.limit_w, tuple(records), timeline, metrics, tuple(tick_ms),
                            tuple(notes))


def tick_instants(scenario: Scenario) -> list[datetime]:
    """Every tick's `now`: `start`, then one minute later, and so on while before `end`."""
    count = -(-(scenario.end - scenario.start).total_seconds() // TICK_S)
    return [scenario.start + timedelta(seconds=TICK_S * k) for k in range(int(count))]


def scratch_engine(path: Path) -> Engine:
    """The production engine, without fsync: the file is thrown away after the run."""
    engine = make_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def no_fsync(dbapi_connection, _record) -> None:  # runs after make_engine's own listener
        dbapi_connection.execute("PRAGMA synchronous = OFF")

    upgrade(engine)
    return engine


# --- the two policies --------------------------------------------------------------------------


_PLANNERS = {"wattplan": "greedy", "optimal": "optimal"}


def _wattplan(engine: Engine, scenario: Scenario, progress: Progress | None, *, planner: str = "greedy"):
    world = World(engine, scenario, planner=planner)
    instants = tick_instants(scenario)
    tick_ms, churn, before = [], {}, {}
    for done, now in enumerate(instants, start=1):
        moved = world.apply_events_until(now)
        started = time.perf_counter()
        run_tick(engine=engine, now=now)
        tick_ms.append((time.perf_counter() - started) * 1000)
        after = planned_starts(engine)
        if not moved:
            count_churn(before, after, churn)
        before = after
        if progress is not None:
            progress(done, len(instants))
    return records_from_db(engine, scenario, world.labels, churn), tick_ms, world.notes


def _immediate(engine: Engine, scenario: Scenario, progress: Progress | None, *, planner: str | None = None):
    world = World(engine, scenario)
    world.apply_events_until(scenario.end, requests_only=True)
    ends = {e.label: e for e in scenario.events if isinstance(e, EndEarly)}
    durations = program_durations(scenario)
    records = [_baseline(scenario, label, row, run_duration(scenario, row, durations), ends.get(label),
                         world.notes)
               for label, row in executions(engine, world.labels)]
    if progress is not None:
        progress(1, 1)
    return records, [], world.notes


def _baseline(scenario: Scenario, label: str, row, duration_s: int, ending: EndEarly | None,
              notes: list[str]) -> ExecutionRecord:
    """One run without a scheduler: from its earliest start, whole, unless the user ends it."""
    start = row.earliest_start
    stop, reason = start + timedelta(seconds=duration_s), "completed"
    if ending is not None and ending.at < stop:
        started = ending.at > start
        stop, reason = max(start, ending.at), END_REASONS[ending.kind] if started else "cancelled"
        if ending.kind == "done" and not started:
            notes.append(_not_started(label, ending.at))
    elif ending is not None:
        notes.append(_already_over(ending.kind, label, ending.at))
    until = min(stop, scenario.end)
    closed = stop <= scenario.end
    return ExecutionRecord(
        label, row.appliance, row.program, row.priority_class, row.requested_at, row.earliest_start,
        row.latest_end, (Span(start, until, 0.0),) if start < until else (),
        ended_at=stop if closed else None, end_reason=reason if closed else None,
        pauses=0, churn=None, decisions=None)


class World:
    """Applies the scenario's events to the database at their own instants."""

    def __init__(self, engine: Engine, scenario: Scenario, *, planner: str | None = None) -> None:
        self.engine, self.events, self.next = engine, scenario.events, 0
        self.labels: dict[str, int] = {}  # request label → execution id
        self.notes: list[str] = []
        with transaction(engine) as session:
            load_into_db(session, scenario, scenario.start, settings={"planner": planner})
            self.home_id = load_home(session).id

    def apply_events_until(self, now: datetime, *, requests_only: bool = False) -> bool:
        """Apply every event at or before `now` not applied yet; True if there was one."""
        due = []
        while self.next < len(self.events) and self.events[self.next].at <= now:
            due.append(self.events[self.next])
            self.next += 1
        if due:
            with transaction(self.engine) as session:
                for item in due:
                    if isinstance(item, Request):
                        self._request(session, item)
                    elif not requests_only and isinstance(item, EndEarly):
                        self._end(session, item)
                    elif not requests_only and isinstance(item, ForecastUpdate):
                        replace_series(session, self.home_id, item.series)
        return bool(due)

    def _request(self, session: Session, item: Request) -> None:
        execution = requests.enqueue(session, now=item.at, request=requests.Request(
            appliance=item.appliance, program=item.program, not_before=item.not_before,
            within_s=item.within_s, by=item.by, priority_class=item.priority_class,
            objective=item.objective, energy_wh=item.energy_wh))
        self.labels[item.label] = execution.id

    def _end(self, session: Session, item: EndEarly) -> None:
        execution = requests.get_execution(session, self.labels[item.label])
        reason = END_REASONS[item.kind]
        if execution.state in ENDED_STATES:
            self.notes.append(_already_over(item.kind, item.label, item.at))
            return
        if reason == "done" and execution.state == "pending":
            self.notes.append(_not_started(item.label, item.at))
            reason = "cancelled"
        change = requests.end(session, now=item.at, execution_id=execution.id, reason=reason)
        if change.event == "complete":  # the state machine recorded the profile's own end
            self.notes.append(_already_over(item.kind, item.label, item.at))


def _not_started(label: str, at: datetime) -> str:
    when = at.isoformat(timespec="seconds")
    return f"done of {label!r} at {when} applied as cancel: the run had not started"


def _already_over(kind: str, label: str, at: datetime) -> str:
    return f"{kind} of {label!r} at {at.isoformat(timespec='seconds')} ignored: its program was already over"


def replace_series(session: Session, home_id: int, series: Series) -> None:
    """A forecast update: its slots replace the time it covers (`forecasts.replace_series`)."""
    forecasts.replace_series(session, home_id=home_id, kind=series.kind, intervals=series_intervals(series))
