"""Hypothesis strategies: random homes, forecasts, profiles and requests in consistent states.

A drawn snapshot is one the store could load: running and paused runs started no earlier than
their earliest start and have made less progress than their profile when their state began;
non-interruptible runs are never paused and never have progress before their start.
"""

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from reconcile.planner.domain import Ended, Home, Interval, Run, Shape, Snapshot

T0 = datetime(2026, 6, 30, 6, 0, tzinfo=UTC)
SLOTS = (60, 300, 900)
MINUTES = (0, 60, 120, 300, 600, 900, 1800)


def instants(days: int = 2) -> st.SearchStrategy[datetime]:
    """Instants after T0, at whole seconds or, like a real clock, with microseconds."""
    return st.builds(lambda s, us: T0 + timedelta(seconds=s, microseconds=us),
                     st.integers(0, days * 86400), st.sampled_from((0, 0, 0, 1, 499_999, 500_000, 999_999)))


OBJECTIVES = ("asap", "asap", "cheapest", "solar")


@st.composite
def homes(draw, objectives=OBJECTIVES) -> Home:
    limit = draw(st.integers(2000, 10000))
    return Home(
        id=1, limit_w=float(limit), timezone="UTC",
        slot_s=draw(st.sampled_from(SLOTS)),
        horizon_s=draw(st.integers(2, 12)) * 3600,
        reserve_w=float(draw(st.sampled_from((0, 0, 200, 500, limit // 3)))),
        objective=draw(st.sampled_from(objectives)),
    )


@st.composite
def series(draw, now: datetime, high: float) -> tuple[Interval, ...]:
    """Non-overlapping intervals from before `now` into the horizon, some with gaps between them,
    with boundaries on whole minutes or anywhere."""
    t = now.timestamp() - draw(st.integers(0, 7200))
    out = []
    for _ in range(draw(st.integers(0, 6))):
        t += draw(st.sampled_from((0, 0, 0, 60, 900, 3600)))
        length = draw(st.one_of(st.integers(1, 240).map(lambda m: m * 60), st.integers(1, 14400)))
        out.append(Interval(t, t + length, float(draw(st.integers(0, int(high))))))
        t += length
    return tuple(out)


PHASE = st.tuples(st.integers(1, 15), st.integers(0, 100), st.sampled_from((0, 0, 0, 100, 500, 1500)))


@st.composite
def shapes(draw, limit_w: float) -> Shape:
    """1–40 slots in one to four phases of 0–limit W (heat, wash, spin); some phases peak above
    their mean, now and then above the limit, and one slot may spike."""
    watts, peaks = [], []
    for length, percent, extra in draw(st.lists(PHASE, min_size=1, max_size=4)):
        watts += [round(limit_w * percent / 100)] * length
        peaks += [round(limit_w * percent / 100) + extra] * length
    watts, peaks = watts[:40], peaks[:40]
    spike = draw(st.integers(-len(watts), len(watts) - 1))
    if spike >= 0:
        peaks[spike] += draw(st.sampled_from((200, 1000)))
    return Shape(draw(st.sampled_from(SLOTS)), tuple(map(float, watts)), tuple(map(float, peaks)))


@st.composite
def runs(draw, run_id: int, now: datetime, limit_w: float, share: bool = True) -> Run:
    shape = draw(shapes(limit_w))
    interruptible = draw(st.booleans())
    requested = now - timedelta(seconds=draw(st.integers(0, 12 * 3600)))
    earliest = requested + timedelta(seconds=draw(st.sampled_from((0, 0, 0, 600, 3600, 4 * 3600, 15 * 3600))))
    latest_end = draw(st.one_of(st.none(), st.integers(60, 16 * 3600).map(
        lambda s: earliest + timedelta(seconds=s))))
    state = draw(st.sampled_from(("pending", "running", "paused") if interruptible else ("pending", "running")))
    if earliest > now:
        state = "pending"
    since, progress, last = requested, 0.0, None
    if state != "pending":
        since = now - timedelta(seconds=draw(st.integers(0, max(0, int((now - earliest).total_seconds())))))
        if interruptible:
            progress = float(draw(st.integers(0 if state == "running" else 1, shape.duration_s - 1)))
        last = "pause" if state == "paused" else ("resume" if progress else "start")
    # Pending runs sometimes share an appliance (a second wash queued): one cycle at a time.
    shared = share and state == "pending" and draw(st.integers(0, 2)) == 0
    appliance = "shared" if shared else f"a{run_id}"
    return Run(
        id=run_id, appliance=appliance, program="p", interruptible=interruptible, shape=shape,
        requested_at=requested, earliest_start=earliest,
        priority_class=draw(st.integers(1, 10)), state=state, state_since=since, progress_s=progress,
        latest_end=latest_end, max_delay_s=draw(st.one_of(st.none(), st.integers(60, 12 * 3600))),
        min_run_s=draw(st.sampled_from(MINUTES)) if interruptible else 0,
        min_pause_s=draw(st.sampled_from(MINUTES)) if interruptible else 0,
        last_command=last,
    )


@st.composite
def snapshots(draw, max_runs: int = 8, objectives=OBJECTIVES, min_runs: int = 0) -> tuple[Snapshot, datetime]:
    """A random home with forecasts, `min_runs` to `max_runs` open runs and a few ended ones, and `now`."""
    now = draw(instants())
    home = draw(homes(objectives))
    ids = draw(st.lists(st.integers(1, 500), unique=True, min_size=min_runs, max_size=max_runs + 2))
    n_runs = draw(st.integers(min(min_runs, len(ids)), len(ids))) if ids else 0
    open_runs = tuple(draw(runs(i, now, home.limit_w)) for i in ids[:n_runs])
    ended = tuple(Ended(i, draw(st.sampled_from(("finished", "cancelled"))), "done", "start") for i in ids[n_runs:])
    return Snapshot(
        home=home, runs=open_runs, ended=ended,
        pv=draw(series(now, home.limit_w)), base=draw(series(now, home.limit_w / 2)),
        price=draw(series(now, 40)),
    ), now
