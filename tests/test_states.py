"""The run state machine (`reconcile.planner.states`), table-driven, and the clock rule of `plan`.

Every state change the product makes goes through `transition`: the tick's plan, the store that
writes it, `requests.end` (cancel, done) and the simulator. These tables pin what it returns.
"""

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.planner.plan import plan, planning_instant
from reconcile.planner.states import RefusedTransition, advance, completed_at, progress_at, transition
from tests.helpers import HOUR, MIN, NOW, apply_plan, flat, home, paused, run, running, snap
from tests.strategies import snapshots

HALF = flat(1000, 60)  # a one-hour profile
T = NOW + 10 * MIN


@pytest.mark.parametrize(("before", "event", "state", "progress_s", "ended", "reason"), [
    (run(1, HALF), "start", "running", 0.0, None, None),
    (running(1, HALF, since=NOW, progress_s=300), "pause", "paused", 900.0, None, None),
    (paused(1, HALF, since=NOW, progress_s=300), "resume", "running", 300.0, None, None),
    (running(1, HALF, since=NOW - HOUR), "complete", "finished", 3600.0, NOW, "completed"),
    (running(1, HALF, since=NOW, progress_s=300), "done", "finished", 900.0, T, "done"),
    (paused(1, HALF, since=NOW, progress_s=300), "done", "finished", 300.0, T, "done"),
    (run(1, HALF), "cancel", "cancelled", 0.0, T, "cancelled"),
    (running(1, HALF, since=NOW, progress_s=300), "cancel", "cancelled", 900.0, T, "cancelled"),
    (paused(1, HALF, since=NOW, progress_s=300), "cancel", "cancelled", 300.0, T, "cancelled"),
])
def test_each_event_leads_to_its_state_with_the_progress_made(before, event, state, progress_s, ended, reason):
    change = transition(before, event, T)
    assert (change.state, change.progress_s, change.ended_at, change.end_reason) == (
        state, progress_s, ended, reason)
    assert change.state_since == (ended or T)


def test_a_start_records_when_the_run_started_and_nothing_else_does() -> None:
    assert transition(run(1, HALF), "start", T).started_at == T
    assert transition(paused(1, HALF, since=NOW, progress_s=60), "resume", T).started_at is None


@pytest.mark.parametrize(("before", "event", "why"), [
    (run(1, HALF), "done", "has not started"),
    (run(1, HALF), "pause", "cannot pause a pending run"),
    (run(1, HALF), "resume", "cannot resume a pending run"),
    (running(1, HALF, since=NOW), "start", "cannot start a running run"),
    (paused(1, HALF, since=NOW, progress_s=60), "pause", "cannot pause a paused run"),
    (paused(1, HALF, since=NOW, progress_s=60), "complete", "cannot complete a paused run"),
    (run(1, HALF), "explode", "'explode' is not an event of a run"),
])
def test_an_event_the_state_does_not_allow_is_refused(before, event, why) -> None:
    with pytest.raises(RefusedTransition, match=why):
        transition(before, event, T)


@pytest.mark.parametrize("event", ["done", "cancel"])
def test_ending_a_run_whose_profile_was_already_over_records_its_completion(event) -> None:
    """The user (or the simulator) reports the end after the profile was over: that is a completion
    at the instant it ended, not a cancellation at the instant it was said."""
    change = transition(running(1, HALF, since=NOW - HOUR, progress_s=600), event, NOW)
    assert (change.event, change.state, change.ended_at, change.progress_s) == (
        "complete", "finished", NOW - 10 * MIN, 3600.0)


def test_progress_never_goes_backwards_when_the_clock_does() -> None:
    r = running(1, HALF, since=NOW, progress_s=120)
    assert progress_at(r, (NOW - HOUR).timestamp()) == 120
    assert transition(r, "pause", NOW - HOUR).progress_s == 120
    assert completed_at(r, (NOW + 57 * MIN).timestamp()) is None
    assert completed_at(r, (NOW + 58 * MIN).timestamp()) == NOW + 58 * MIN


def test_advance_gives_the_run_the_store_loads_next() -> None:
    r = run(1, HALF)
    started = advance(r, transition(r, "start", T))
    assert (started.state, started.state_since, started.last_command) == ("running", T, "start")
    assert advance(started, transition(started, "cancel", T + MIN)) is None


# --- the clock rule: a clock stepped back plans at the last tick's instant ---------------------


@pytest.mark.parametrize(("last", "given_now", "planned_at", "behind_s"), [
    (None, NOW, NOW, 0.0),
    (NOW - MIN, NOW, NOW, 0.0),
    (NOW, NOW, NOW, 0.0),
    (NOW + 10 * MIN, NOW, NOW + 10 * MIN, 600.0),
    (NOW + HOUR, NOW, NOW + HOUR, 3600.0),
])
def test_the_planning_instant_never_goes_behind_the_last_tick(last, given_now, planned_at, behind_s) -> None:
    s = snap(run(1, HALF), h=home())
    assert planning_instant(type(s)(**{**_fields(s), "last_tick_at": last}), given_now) == (planned_at, behind_s)


def test_a_tick_behind_the_last_one_replays_nothing() -> None:
    first = plan(snap(run(1, HALF), run(2, flat(2500, 30))), NOW + 10 * MIN)
    after = apply_plan(snap(run(1, HALF), run(2, flat(2500, 30))), first)
    again = plan(after, NOW)
    assert (again.now, again.clock_behind_s, again.decisions, again.transitions) == (NOW + 10 * MIN, 600.0, (), ())


def _fields(s) -> dict:
    return {name: getattr(s, name) for name in s.__dataclass_fields__}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots(max_runs=5), st.lists(st.integers(-180, 240), min_size=1, max_size=8))
def test_any_clock_sequence_keeps_progress_and_the_planning_instant_monotonic(drawn, steps) -> None:
    """Ticks at any sequence of instants (steps in minutes, forward or back): the instant planned
    at never decreases, progress never shrinks, no run is started twice."""
    snapshot, now = drawn
    progress = {r.id: r.progress_s for r in snapshot.runs}
    starts: dict[int, int] = {}
    planned_at = None
    for step in steps:
        now += timedelta(minutes=step)
        result = plan(snapshot, now)
        assert planned_at is None or result.now >= planned_at
        planned_at = result.now
        for change in result.transitions:
            assert change.progress_s >= progress.get(change.execution_id, 0.0) - 1e-6
            progress[change.execution_id] = change.progress_s
            starts[change.execution_id] = starts.get(change.execution_id, 0) + (change.event == "start")
        snapshot = apply_plan(snapshot, result)
    assert all(n <= 1 for n in starts.values())
