"""A simulated run's history read back: what each execution did, and the load over time.

The wattplan policy's runs are read from the decisions the ticks wrote (`records_from_db`,
`spans_from_decisions`); both policies' appliances then draw what their profiles say at their
progress, over the forecasts with every update applied (`build_timeline`, docs/simulation.md).
"""

import bisect
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select, text
from sqlmodel import Session

from models import Appliance, Decision, Execution, Profile
from reconcile.planner.domain import OPEN_STATES
from reconcile.simulation.charging import charged_s, modulating, run_duration, setpoint_spans
from reconcile.simulation.metrics import ExecutionRecord, Span, Timeline
from reconcile.simulation.scenario_types import SERIES_KINDS, ForecastUpdate, Scenario

TICK_S = 60  # the simulator ticks once a virtual minute; the timeline is cut there too

# --- reading the history back ----------------------------------------------------------------


def planned_starts(engine: Engine) -> dict[int, tuple[str, str | None]]:
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


def executions(engine: Engine, labels: dict[str, int]):
    by_id = {run_id: label for label, run_id in labels.items()}
    with Session(engine) as session:
        rows = session.execute(
            select(Execution.id, Execution.requested_at, Execution.earliest_start, Execution.latest_end,
                   Execution.priority_class, Execution.ended_at, Execution.end_reason, Execution.energy_wh,
                   Appliance.name.label("appliance"), Profile.name.label("program"))
            .join(Appliance, Appliance.id == Execution.appliance_id)
            .join(Profile, Profile.id == Execution.profile_id).order_by(Execution.id)).all()
    return [(by_id[row.id], row) for row in rows]


def records_from_db(engine: Engine, scenario: Scenario, labels: dict[str, int], churn: dict[int, int]):
    with Session(engine) as session:
        history: dict[int, list[tuple[str, datetime, float | None]]] = {}
        for row in session.execute(select(Decision.execution_id, Decision.kind, Decision.at, Decision.power_w)
                                   .order_by(Decision.id)):
            history.setdefault(row.execution_id, []).append((row.kind, row.at, row.power_w))
    durations = program_durations(scenario)
    records = []
    for label, row in executions(engine, labels):
        decisions = history.get(row.id, [])
        duration = run_duration(scenario, row, durations)
        charger = modulating(scenario, row.appliance)
        if charger is not None:  # its stretches run at their setpoints
            spans = setpoint_spans(decisions, duration, charger.power_range[1], row.ended_at or scenario.end)
            done = charged_s(spans, charger.power_range[1])
        else:
            spans = spans_from_decisions([(k, at) for k, at, _ in decisions], duration,
                                         row.ended_at or scenario.end)
            done = _done_s(spans)
        ended_at, reason = row.ended_at, row.end_reason
        if ended_at is None and spans and done >= duration - 1e-3:
            ended_at, reason = spans[-1].end, "completed"  # over between the last tick and `end`
        records.append(ExecutionRecord(
            label, row.appliance, row.program, row.priority_class, row.requested_at, row.earliest_start,
            row.latest_end, spans, ended_at, reason, sum(k == "pause" for k, *_ in decisions),
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


def program_durations(scenario: Scenario) -> dict[tuple[str, str], int]:
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
    charger = modulating(scenario, record.appliance)
    if charger is not None:  # constant power per stretch: its setpoint, or its maximum without a scheduler
        for span in record.spans:
            start, end = _ms(scenario, span.start), min(total, _ms(scenario, span.end))
            watts = span.power_w if span.power_w is not None else charger.power_range[1]
            if end > start:
                yield record.appliance, start, end, watts, watts
        return
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
