"""Issue 11, item 3: the joint placement pass (reconcile/planner/improve.py) after the greedy one.

Properties over random snapshots with cost objectives: the pass leaves out no run the greedy
placement served, makes none less whole or later, and is deterministic; capacity and the other
planner properties are proven for every objective in tests/test_properties.py."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.planner import timetable
from reconcile.planner.plan import finish_overdue, plan
from reconcile.planner.timetable import build_timetable
from tests.helpers import HOUR, NOW, flat, home, interval, run, shape, snap, starts
from tests.strategies import snapshots
from tests.test_properties import starts_never_move_back


def greedy_only(snapshot, runs, now_s, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr(timetable, "improve_timetable", lambda *args, **kwargs: None)
        return build_timetable(snapshot, runs, now_s)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(snapshots(objectives=("cheapest", "solar")))
def test_the_pass_serves_everyone_greedy_served_no_later_and_no_less(monkeypatch, drawn) -> None:
    snapshot, now = drawn
    _done, runs = finish_overdue(snapshot.runs, now)
    now_s = now.timestamp()
    before = {p.execution_id: p for p in greedy_only(snapshot, runs, now_s, monkeypatch)[0]}
    after = {p.execution_id: p for p in build_timetable(snapshot, runs, now_s)[0]}
    assert build_timetable(snapshot, runs, now_s)[0] == tuple(after.values())
    assert set(after) == set(before)
    for run_id, was in before.items():
        now_planned = after[run_id]
        assert now_planned.short_wh <= was.short_wh + 1e-6
        assert (now_planned.late_s or 0) <= (was.late_s or 0)


def test_a_swap_gives_the_cheap_hour_to_the_run_that_needs_it_whole() -> None:
    """Greedy in claim order: the short, higher-priority run takes the start of the cheap hour and
    the long one the next cheapest whole hour; swapped, the long one fills the cheap hour and the
    short one goes to the next cheapest, which costs the house less and leaves both on time."""
    prices = [interval(NOW + k * HOUR, NOW + (k + 1) * HOUR, p) for k, p in enumerate((0.30, 0.10, 0.40, 0.12))]
    short = run(1, flat(2500, 20), priority_class=9, latest_end=NOW + 4 * HOUR)
    long_ = run(2, flat(2500, 60), priority_class=2, latest_end=NOW + 4 * HOUR)
    result = plan(snap(short, long_, h=home(3000, objective="cheapest"), price=prices), NOW)
    assert starts(result)[2] == NOW + HOUR
    assert starts(result)[1] == NOW + 3 * HOUR



@settings(max_examples=1, database=None)
@given(st.just(None))
def test_the_pass_does_not_move_runs_around_one_the_horizon_still_cuts(_none) -> None:
    """Found by test_properties: a pausable run revealed slot by slot as the horizon moved was
    swapped with a settled run, which then went back to a start it had left (08:10 → 10:35 → 08:10)."""
    def at(seconds: float):
        return NOW + timedelta(seconds=seconds)

    blip = run(448, shape(0, peaks=(200,)), at=at(-1), priority_class=1)
    washer = run(1, shape(*[3490] * 12, peaks=(3690, *[3490] * 11)), priority_class=1)
    ev = run(273, shape(*[3893] * 12, peaks=(4093, *[3893] * 11), slot_s=900), interruptible=True,
             priority_class=1, earliest_start=at(4 * 3600), min_pause_s=1800)
    pv = [interval(at(a), at(b), w) for a, b, w in ((0, 60, 0), (3660, 13260, 1636), (13260, 16260, 0),
                                                    (16260, 27240, 2569))]
    s = snap(blip, washer, ev, h=home(4475, slot_s=300, horizon_h=3, objective="cheapest"), pv=pv,
             base=[interval(at(3600), at(7560), 1)])
    starts_never_move_back((s, NOW), 27)
