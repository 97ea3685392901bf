"""The run state machine (`reconcile.planner.states`), table-driven, and the clock rules of `plan`.

Every state change the product makes goes through `transition`: the tick's plan, the store that
writes it, `requests.end` (cancel, done) and the simulator. These tables pin what it returns.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.planner.domain import CLOCK_STEP_BACK_S, DECISION_TTL_S
from reconcile.planner.plan import LAST_INSTANT, latest_now, plan, planning_instant
from reconcile.planner.states import RefusedTransition, advance, completed_at, covered, progress_at, transition
from tests.helpers import HOUR, MIN, NOW, apply_plan, decisions, flat, home, paused, run, running, snap
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
    (NOW + HOUR, NOW, NOW + HOUR, 3600.0),  # CLOCK_STEP_BACK_S: still the same clock, behind
    (NOW + HOUR + MIN, NOW, NOW, 3660.0),  # further: the newest tick was a jump; plan at now
    (datetime(9999, 12, 31, 23, 0, tzinfo=UTC), NOW, NOW, (datetime(9999, 12, 31, 23, 0, tzinfo=UTC) - NOW)
     .total_seconds()),
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


# --- the clock: covered time only, forward jumps, the clock coming back ------------------------
#
# A running run's progress counts only up to its cover: the newest tick's `now` + DECISION_TTL_S
# (every tick that keeps it running renews it; after that, `state` reads stale and an actuator
# switches it off). A `now` more than CLOCK_STEP_BACK_S behind the newest tick means the newest
# tick's instant was a jump that has been undone: the plan works at `now` again.

TTL = timedelta(seconds=DECISION_TTL_S)
BACK = timedelta(seconds=CLOCK_STEP_BACK_S)
DAY = timedelta(days=1)


def ticked(snapshot, *instants):
    """`snapshot` after ticks at `instants` in turn; the plans, in order."""
    plans = []
    for instant in instants:
        plans.append(plan(snapshot, instant))
        snapshot = apply_plan(snapshot, plans[-1])
    return snapshot, plans


@pytest.mark.parametrize(("last", "at", "progress_s", "completed"), [
    (None, NOW + 2 * HOUR, 7200.0, NOW + HOUR),  # no tick known: not capped (as before)
    (NOW, NOW + MIN, 60.0, None),
    (NOW, NOW + 2 * HOUR, 120.0, None),  # the ticks stopped at NOW: stale from NOW + 2 min
    (NOW + 59 * MIN, NOW + 2 * HOUR, 3660.0, NOW + HOUR),  # over inside the newest tick's cover
    (NOW + 10 * MIN, NOW + 5 * MIN, 300.0, None),  # from behind the newest tick: covered up to its instant
])
def test_a_running_runs_progress_counts_only_up_to_its_cover(last, at, progress_s, completed) -> None:
    r = covered(running(1, HALF, since=NOW), last, at)
    assert progress_at(r, at.timestamp()) == progress_s
    assert completed_at(r, max(at, last or at).timestamp()) == completed


def test_only_running_runs_are_covered() -> None:
    for r in (run(1, HALF), paused(1, HALF, since=NOW, progress_s=60)):
        assert covered(r, NOW, NOW + HOUR).covered_until is None


@pytest.mark.parametrize(("before", "state", "progress_s"), [
    (covered(running(1, HALF, since=NOW, progress_s=300), NOW, NOW + HOUR), "running", 420.0),
    (covered(running(1, HALF, since=NOW + DAY, progress_s=300), NOW + DAY, NOW), "running", 300.0),
    (covered(running(1, HALF, since=NOW, progress_s=300), NOW + 10 * MIN, NOW), "running", 900.0),
    (paused(1, HALF, since=NOW + DAY, progress_s=300), "paused", 300.0),
])
def test_a_lapse_restarts_the_record_at_its_instant_with_the_progress_covered(before, state, progress_s) -> None:
    change = transition(before, "lapse", T)
    assert (change.state, change.state_since, change.progress_s, change.ends) == (state, T, progress_s, False)


def test_a_lapsed_running_run_is_told_to_resume_and_a_paused_one_nothing() -> None:
    r = covered(running(1, HALF, since=NOW), NOW, T)
    assert advance(r, transition(r, "lapse", T)).last_command == "resume"
    p = paused(2, HALF, since=T + DAY, progress_s=60)
    assert advance(p, transition(p, "lapse", T)).last_command == "pause"
    with pytest.raises(RefusedTransition, match="cannot lapse a pending run"):
        transition(run(3, HALF), "lapse", T)


def test_ticks_that_stop_count_only_the_covered_two_minutes_and_the_run_resumes_where_it_was() -> None:
    """Issue 10: a washer told to run at 09:00 and stale from 09:02 was recorded at 11:00 as
    completed at 10:00 with 3600 s of progress."""
    washer = snap(run(1, HALF))
    after, (first, late) = ticked(washer, NOW, NOW + 2 * HOUR)
    assert decisions(first) == {(1, "start")}
    assert (late.finished, decisions(late)) == ((), {(1, "resume")})
    (lapsed,) = late.transitions
    assert (lapsed.event, lapsed.state, lapsed.state_since, lapsed.progress_s) == (
        "lapse", "running", NOW + 2 * HOUR, 120.0)
    assert "resumes at 120s of 3600s" in late.decisions[0].reason
    assert plan(after, NOW + 2 * HOUR).decisions == ()  # idempotent
    minutes = [NOW + 2 * HOUR + k * MIN for k in range(1, 60)]
    _, plans = ticked(after, *minutes)
    ends = [(f.ended_at, p.now) for p in plans for f in p.finished]
    assert ends == [(NOW + 2 * HOUR + 58 * MIN, NOW + 2 * HOUR + 58 * MIN)]  # 120 s + 58 min = 1 h


def test_a_lapsed_pausable_run_whose_power_is_now_needed_is_paused_where_it_was() -> None:
    heater = run(1, flat(2000, 60), interruptible=True, priority_class=2)
    after, _ = ticked(snap(heater), NOW)
    urgent = run(2, flat(2000, 30), at=NOW + HOUR, priority_class=9)  # asked for during the downtime
    gap = plan(replace(after, runs=(*after.runs, urgent)), NOW + 2 * HOUR)
    assert [(t.execution_id, t.event, t.state, t.progress_s) for t in gap.transitions] == [
        (1, "lapse", "running", 120.0), (1, "pause", "paused", 120.0), (2, "start", "running", 0.0)]
    assert decisions(gap) == {(1, "pause"), (2, "start")}


def test_a_run_over_inside_its_cover_is_finished_at_its_end_after_downtime() -> None:
    after, _ = ticked(snap(run(1, HALF)), *[NOW + k * MIN for k in range(60)])  # the ticks stop at 59 min
    downtime = plan(after, NOW + 5 * HOUR)
    assert [(f.execution_id, f.ended_at) for f in downtime.finished] == [(1, NOW + HOUR)]
    assert decisions(downtime) == {(1, "stop")}


def test_one_tick_in_the_future_neither_completes_a_run_nor_freezes_the_home() -> None:
    """Issue 10: `wattplan tick --now <tomorrow>` between minute ticks recorded a run that ran
    one minute as complete, and later ticks clamped to tomorrow."""
    s = snap(run(1, HALF), run(2, flat(2500, 30)))  # #2 waits for #1 (3 kW limit)
    after, (_, _, jump, back, on) = ticked(s, NOW, NOW + MIN, NOW + DAY, NOW + 2 * MIN, NOW + 3 * MIN)
    assert (jump.finished, decisions(jump)) == ((), {(1, "resume")})  # 3 min covered, not a day
    assert (back.now, back.clock_returned, back.clock_behind_s) == (NOW + 2 * MIN, True, DAY.total_seconds() - 120)
    assert decisions(back) == {(1, "resume")}  # runs on from the real now, nothing started again
    assert [t.progress_s for t in back.transitions] == [180.0]  # what the jumped tick had counted
    assert (on.now, on.decisions, on.clock_behind_s) == (NOW + 3 * MIN, (), 0.0)
    rest = [NOW + 3 * MIN + k * MIN for k in range(1, 59)]
    _, plans = ticked(after, *rest)
    # The jumped tick counted the cover of the tick before it (to NOW + 3 min), which the real
    # clock had not reached: a jump costs at most one cover (DECISION_TTL_S) of early end.
    assert [(f.execution_id, f.ended_at) for p in plans for f in p.finished] == [(1, NOW + 59 * MIN)]
    assert {(d.execution_id, d.kind) for p in plans for d in p.decisions} == {(1, "stop"), (2, "start")}


def test_a_clock_stepped_back_within_the_bound_still_replays_nothing() -> None:
    s, _ = ticked(snap(run(1, HALF)), NOW, NOW + MIN, NOW + MIN + BACK)
    again = plan(s, NOW + 2 * MIN)
    assert (again.now, again.clock_returned, again.decisions, again.transitions) == (
        NOW + MIN + BACK, False, (), ())


def test_a_now_at_the_end_of_the_calendar_is_past_the_latest_plannable_instant() -> None:
    h = home()
    assert latest_now(h) == LAST_INSTANT - timedelta(seconds=h.horizon_s + h.slot_s)
    assert latest_now(h) < datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    p = plan(snap(run(1, HALF), h=h), latest_now(h))  # the latest instant itself plans without error
    assert decisions(p) == {(1, "start")}


CLOCK_STEPS = st.one_of(
    st.integers(-180, 240).map(lambda m: timedelta(minutes=m)),  # back steps, repeats, gaps
    st.sampled_from((DAY, -DAY, 365 * DAY, -365 * DAY, BACK, -BACK, BACK + MIN, -BACK - MIN, TTL, -TTL)),
    st.integers(0, 120).map(lambda s: timedelta(seconds=s)),  # ticks closer than a minute
)


STATE_TOLD = {"start": "running", "resume": "running", "pause": "paused"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots(max_runs=5), st.lists(CLOCK_STEPS, min_size=1, max_size=10))
def test_any_clock_sequence_keeps_progress_covered_and_the_clock_rule(drawn, steps) -> None:
    """Ticks at any sequence of instants (forward jumps, back steps, repeats, huge jumps):
    progress never shrinks; no run starts twice; every start, resume and pause is recorded as
    such; a run ends only inside the cover of the tick before (never for time no decision
    vouched for); the instant planned at never goes back
    except to the given `now` when that is more than CLOCK_STEP_BACK_S behind the newest tick."""
    snapshot, now = drawn
    progress = {r.id: r.progress_s for r in snapshot.runs}
    starts: dict[int, int] = {}
    planned_at = None
    for step in steps:
        now += step
        result = plan(snapshot, now)
        if planned_at is not None:
            behind = (planned_at - now).total_seconds()
            assert result.now == (now if behind > CLOCK_STEP_BACK_S else max(now, planned_at))
            assert result.clock_returned == (behind > CLOCK_STEP_BACK_S)
        final = {t.execution_id: t.state for t in result.transitions}  # what each decision says is recorded
        assert all(final[d.execution_id] == STATE_TOLD[d.kind] for d in result.decisions if d.kind in STATE_TOLD)
        for change in result.transitions:
            assert change.progress_s >= progress.get(change.execution_id, 0.0) - 1e-6
            progress[change.execution_id] = change.progress_s
            starts[change.execution_id] = starts.get(change.execution_id, 0) + (change.event == "start")
            if change.event == "complete" and planned_at is not None:
                assert change.ended_at <= max(planned_at, min(now, planned_at + TTL))
        planned_at = result.now
        snapshot = apply_plan(snapshot, result)
    assert all(n <= 1 for n in starts.values())
