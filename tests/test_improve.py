"""Issue 11, item 3: the joint placement pass (reconcile/planner/improve.py) after the greedy one.

Properties over random snapshots with cost objectives: the pass leaves out no run the greedy
placement served, makes none less whole or later, and is deterministic; capacity and the other
planner properties are proven for every objective in tests/test_properties.py."""

from hypothesis import HealthCheck, given, settings

from reconcile.planner import timetable
from reconcile.planner.plan import finish_overdue, plan
from reconcile.planner.timetable import build_timetable
from tests.helpers import HOUR, NOW, flat, home, interval, run, snap, starts
from tests.strategies import snapshots


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
