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

import bisect
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, bindparam, event, select, text
from sqlmodel import Session

from models import Appliance, Decision, Execution, Profile
from reconcile.errors import ReconcileError
from reconcile.planner.domain import ENDED_STATES, OPEN_STATES
from reconcile.shell import forecasts, requests
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.migrate import upgrade
from reconcile.shell.store import load_home
from reconcile.shell.tick import run_tick
from reconcile.simulation.metrics import ExecutionRecord, Metrics, Span, Timeline, compute_metrics
from reconcile.simulation.sample import load_into_db, series_intervals
from reconcile.simulation.scenario_types import SERIES_KINDS, EndEarly, ForecastUpdate, Request, Scenario, Series

POLICIES = ("wattplan", "immediate", "optimal")  # optimal: the tick with the exact planner
TICK_S = 60
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
        engine = _engine(Path(folder) / "simulation.db")
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


def _engine(path: Path) -> Engine:
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
    world = _World(engine, scenario, planner=planner)
    instants = tick_instants(scenario)
    tick_ms, churn, before = [], {}, {}
    for done, now in enumerate(instants, start=1):
        moved = world.apply_events_until(now)
        started = time.perf_counter()
        run_tick(engine=engine, now=now)
        tick_ms.append((time.perf_counter() - started) * 1000)
        after = _planned(engine)
        if not moved:
            count_churn(before, after, churn)
        before = after
        if progress is not None:
            progress(done, len(instants))
    return _records_from_db(engine, scenario, world.labels, churn), tick_ms, world.notes


def _immediate(engine: Engine, scenario: Scenario, progress: Progress | None, *, planner: str | None = None):
    world = _World(engine, scenario)
    world.apply_events_until(scenario.end, requests_only=True)
    ends = {e.label: e for e in scenario.events if isinstance(e, EndEarly)}
    durations = _durations(scenario)
    records = [_baseline(scenario, label, row, durations[row.appliance, row.program], ends.get(label),
                         world.notes)
               for label, row in _executions(engine, world.labels)]
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


class _World:
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
            objective=item.objective))
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


# --- reading the history back ----------------------------------------------------------------


def _planned(engine: Engine) -> dict[int, tuple[str, str | None]]:
    """execution.planned_start of every open run as the tick left it (raw: compared, not read)."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, state, planned_start FROM execution WHERE state IN :open")
                                  .bindparams(bindparam("open", OPEN_STATES, expanding=True)))
        return {run_id: (state, planned) for run_id, state, planned in rows}


def count_churn(before: dict, after: dict, churn: dict[int, int]) -> None:
    """A waiting run (pending or paused in both ticks) whose planned start moved."""
    for run_id, (state, planned) in after.items():
        old = before.get(run_id)
        if state != "running" and old is not None and old[0] == state and old[1] != planned:
            churn[run_id] = churn.get(run_id, 0) + 1


def _executions(engine: Engine, labels: dict[str, int]):
    by_id = {run_id: label for label, run_id in labels.items()}
    with Session(engine) as session:
        rows = session.execute(
            select(Execution.id, Execution.requested_at, Execution.earliest_start, Execution.latest_end,
                   Execution.priority_class, Execution.ended_at, Execution.end_reason,
                   Appliance.name.label("appliance"), Profile.name.label("program"))
            .join(Appliance, Appliance.id == Execution.appliance_id)
            .join(Profile, Profile.id == Execution.profile_id).order_by(Execution.id)).all()
    return [(by_id[row.id], row) for row in rows]


def _records_from_db(engine: Engine, scenario: Scenario, labels: dict[str, int], churn: dict[int, int]):
    with Session(engine) as session:
        history: dict[int, list[tuple[str, datetime]]] = {}
        for row in session.execute(select(Decision.execution_id, Decision.kind, Decision.at)
                                   .order_by(Decision.id)):
            history.setdefault(row.execution_id, []).append((row.kind, row.at))
    durations = _durations(scenario)
    records = []
    for label, row in _executions(engine, labels):
        decisions = history.get(row.id, [])
        duration = durations[row.appliance, row.program]
        spans = spans_from_decisions(decisions, duration, row.ended_at or scenario.end)
        ended_at, reason = row.ended_at, row.end_reason
        if ended_at is None and spans and _done_s(spans) >= duration - 1e-3:
            ended_at, reason = spans[-1].end, "completed"  # over between the last tick and `end`
        records.append(ExecutionRecord(
            label, row.appliance, row.program, row.priority_class, row.requested_at, row.earliest_start,
            row.latest_end, spans, ended_at, reason, sum(k == "pause" for k, _ in decisions),
            churn.get(row.id, 0), len(decisions)))
    return records


def spans_from_decisions(decisions: list[tuple[str, datetime]], duration_s: float, close: datetime
                         ) -> tuple[Span, ...]:
    """Running stretches from start/resume … pause decisions; an open stretch ends at `close` or
    when the profile is over, whichever is first (stop decisions come a tick late: ignored)."""
    spans: list[Span] = []
    opened: datetime | None = None
    for kind, at in decisions:
        if kind in ("start", "resume") and opened is None:
            opened = at
        elif kind == "pause" and opened is not None:
            spans.append(_span(opened, at, _done_s(spans), duration_s))
            opened = None
    if opened is not None and opened < close:
        spans.append(_span(opened, close, _done_s(spans), duration_s))
    return tuple(s for s in spans if s.end > s.start)


def _span(start: datetime, end: datetime, done: float, duration_s: float) -> Span:
    remaining = timedelta(seconds=round(duration_s - done, 3))
    return Span(start, min(end, start + remaining), done)


def _done_s(spans) -> float:
    return sum((s.end - s.start).total_seconds() for s in spans)


def _durations(scenario: Scenario) -> dict[tuple[str, str], int]:
    return {(p.appliance, p.name): p.slot_s * len(p.watts) for p in scenario.programs}


# --- the load of every appliance over time ---------------------------------------------------

Piece = tuple[int, int, float]  # (start, end) in ms after the scenario's start, value


def build_timeline(scenario: Scenario, records: list[ExecutionRecord]) -> Timeline:
    """The load timeline: each run's profile laid along its spans, over the forecasts' world."""
    total = _ms(scenario, scenario.end)
    cuts = set(range(0, total, TICK_S * 1000)) | {total}
    world = forecast_world(scenario)
    for pieces in world.values():
        cuts.update(x for a, b, _ in pieces for x in (a, b) if 0 < x < total)
    draws = [draw for record in records for draw in _draws(scenario, record, total)]
    cuts.update(x for _, a, b, _, _ in draws for x in (a, b))
    bounds = sorted(cuts)
    index = {cut: i for i, cut in enumerate(bounds)}
    names = tuple(a.name for a in scenario.appliances)
    mean = {name: [0.0] * (len(bounds) - 1) for name in names}
    peak = {name: [0.0] * (len(bounds) - 1) for name in names}
    for name, a, b, watts, peak_w in draws:
        for i in range(index[a], index[b]):
            mean[name][i] += watts
            peak[name][i] += peak_w
    starts = bounds[:-1]
    return Timeline(
        start=scenario.start, end=scenario.end, bounds_s=tuple(b / 1000 for b in bounds),
        base_w=_sample(world["base"], starts, scenario.home.reserve_w),
        pv_w=_sample(world["pv"], starts, 0.0),
        price=_sample(world["price"], starts, None), appliances=names,
        mean_w=tuple(tuple(mean[n]) for n in names), peak_w=tuple(tuple(peak[n]) for n in names))


def forecast_world(scenario: Scenario) -> dict[str, list[Piece]]:
    """What really happens: the forecasts with every update applied in order, an update replacing
    the time it covers and keeping the parts of older intervals outside it (as `replace_series`
    does in the database)."""
    world: dict[str, list[Piece]] = {kind: [] for kind in SERIES_KINDS}
    updates = [e.series for e in scenario.events if isinstance(e, ForecastUpdate)]
    for series in (*scenario.forecasts, *updates):
        first, step = _ms(scenario, series.start), series.slot_s * 1000
        last = first + step * len(series.values)
        kept = [(a, b, v) for p0, p1, v in world[series.kind]
                for a, b in ((p0, min(p1, first)), (max(p0, last), p1)) if a < b]
        new = [(first + i * step, first + (i + 1) * step, v) for i, v in enumerate(series.values)]
        world[series.kind] = sorted(kept + new)
    return world


def _draws(scenario: Scenario, record: ExecutionRecord, total: int):
    """(appliance, start ms, end ms, mean W, peak W) for each profile slot each span runs through."""
    key = (record.appliance, record.program)
    program = next(p for p in scenario.programs if (p.appliance, p.name) == key)
    peaks = program.peak_watts or program.watts
    slot = program.slot_s * 1000
    for span in record.spans:
        start, end = _ms(scenario, span.start), min(total, _ms(scenario, span.end))
        offset = round(span.offset_s * 1000)
        k, a = offset // slot, start
        while a < end and k < len(program.watts):
            b = min(end, start + (k + 1) * slot - offset)
            if b > a:
                yield record.appliance, a, b, program.watts[k], peaks[k]
            a, k = b, k + 1


def _sample(pieces: list[Piece], starts: list[int], default):
    """The value of the piece covering each start (`default` where none does)."""
    opens = [p[0] for p in pieces]
    values = []
    for at in starts:
        i = bisect.bisect_right(opens, at) - 1
        values.append(pieces[i][2] if i >= 0 and pieces[i][1] > at else default)
    return tuple(values)


def _ms(scenario: Scenario, moment: datetime) -> int:
    return round((moment - scenario.start).total_seconds() * 1000)
