"""The pure planner, table-driven: (snapshot, now) → decisions and planned starts. No database.

Every home here has a 3 kW limit, 1-minute slots and no reserve unless the case says otherwise;
`NOW` is 06:00 UTC. `starts` maps execution id → planned start (None: unplaced).
"""

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from reconcile.planner.domain import Ended, Plan, Snapshot
from reconcile.planner.plan import plan
from reconcile.planner.priority import claim_order, priority
from tests.helpers import (
    HOUR,
    MIN,
    NOW,
    apply_plan,
    decisions,
    flat,
    home,
    interval,
    paused,
    placement,
    run,
    running,
    shape,
    snap,
    starts,
)


@dataclass(frozen=True)
class Case:
    name: str
    snapshot: Snapshot
    decisions: set[tuple[int, str]]
    starts: dict[int, datetime | None]
    now: datetime = NOW
    extra: dict = field(default_factory=dict)


HEAT_THEN_TAIL = shape(*[2500] * 10, *[300] * 20)  # a washer: 10 min heating, 20 min washing
GAPPY = shape(*[2500] * 5, *[0] * 5, *[2500] * 5)  # power free between two heating phases

CASES = [
    Case("starts_now_when_power_is_free",
         snap(run(1, flat(2000, 10))), {(1, "start")}, {1: NOW}),
    Case("second_run_fits_in_the_first_runs_tail",
         snap(run(1, HEAT_THEN_TAIL, at=NOW - MIN), run(2, flat(2000, 10))),
         {(1, "start")}, {1: NOW, 2: NOW + 10 * MIN}),
    Case("non_interruptible_run_waits_for_a_gap_that_holds_it_whole",
         snap(running(1, GAPPY, since=NOW), run(2, flat(1000, 10))),
         set(), {1: NOW, 2: NOW + 15 * MIN}),
    Case("interruptible_run_uses_the_gap",
         snap(running(1, GAPPY, since=NOW), run(2, flat(1000, 10), interruptible=True)),
         set(), {1: NOW, 2: NOW + 5 * MIN}, extra={"segments": {2: [(5, 10), (15, 20)]}}),
    Case("peak_inside_a_slot_counts_not_the_mean",
         snap(running(1, flat(2000, 30), since=NOW), run(2, shape(500, 500, peaks=(1500, 500)))),
         set(), {1: NOW, 2: NOW + 30 * MIN}),
    Case("a_short_peak_that_fits_starts_now",
         snap(running(1, flat(2000, 30), since=NOW), run(2, shape(500, 500, peaks=(1000, 500)))),
         {(2, "start")}, {1: NOW, 2: NOW}),
    Case("pv_raises_capacity",
         snap(run(1, flat(4000, 10)), pv=[interval(NOW + 2 * HOUR, NOW + 4 * HOUR, 2000)]),
         set(), {1: NOW + 2 * HOUR}),
    Case("base_load_lowers_capacity",
         snap(run(1, flat(1000, 10)), base=[interval(NOW - HOUR, NOW + HOUR, 2500)]),
         set(), {1: NOW + HOUR}),
    Case("a_base_load_step_inside_a_slot_counts",  # 15-minute slots, a 5-minute base forecast
         snap(run(1, flat(2000, 15)), h=home(slot_s=900),
              base=[interval(NOW, NOW + 5 * MIN, 0), interval(NOW + 5 * MIN, NOW + 10 * MIN, 1500)]),
         set(), {1: NOW + 15 * MIN}),
    Case("the_reserve_is_the_base_load_where_no_forecast_covers",
         snap(run(1, flat(2000, 10)), h=home(3000, reserve_w=1500),
              base=[interval(NOW, NOW + HOUR, 500)]),
         {(1, "start")}, {1: NOW}),
    Case("a_run_longer_than_the_base_load_gap_waits_for_the_reserve",
         snap(run(1, flat(2000, 90)), h=home(3000, reserve_w=1500),
              base=[interval(NOW, NOW + HOUR, 500)]),
         set(), {1: None}),
    Case("nothing_starts_before_earliest_start",
         snap(run(1, flat(2000, 10), earliest_start=NOW + 30 * MIN)),
         set(), {1: NOW + 30 * MIN}),
    Case("earliest_start_inside_a_slot_waits_for_the_next_slot",
         snap(run(1, flat(2000, 10), earliest_start=NOW + 5 * MIN), h=home(slot_s=900)),
         set(), {1: NOW + 15 * MIN}),
    Case("higher_priority_goes_first",
         snap(run(1, flat(2000, 10), at=NOW - HOUR), run(2, flat(2000, 10), priority_class=7)),
         {(2, "start")}, {2: NOW, 1: NOW + 10 * MIN}),
    Case("at_equal_rounded_priority_the_exact_priority_goes_first",  # 5.83 before 5.0
         snap(run(1, flat(2000, 10), at=NOW - 2 * HOUR), run(2, flat(2000, 10), at=NOW - HOUR, max_delay_s=6 * 3600)),
         {(2, "start")}, {2: NOW, 1: NOW + 10 * MIN}),
    Case("at_equal_exact_priority_the_earlier_deadline_goes_first",
         snap(run(1, flat(2000, 10), latest_end=NOW + 3 * HOUR), run(2, flat(2000, 10), latest_end=NOW + 2 * HOUR)),
         {(2, "start")}, {2: NOW, 1: NOW + 10 * MIN}),
    Case("at_equal_deadline_the_earlier_request_goes_first",
         snap(run(1, flat(2000, 10)), run(2, flat(2000, 10), at=NOW - MIN)),
         {(2, "start")}, {2: NOW, 1: NOW + 10 * MIN}),
    Case("at_equal_everything_the_lower_id_goes_first",
         snap(run(2, flat(2000, 10)), run(1, flat(2000, 10))),
         {(1, "start")}, {1: NOW, 2: NOW + 10 * MIN}),
    Case("a_run_whose_peak_never_fits_is_unplaced_and_the_others_still_run",
         snap(run(1, flat(4000, 5)), run(2, flat(1000, 5))),
         {(2, "start")}, {1: None, 2: NOW}),
    Case("an_interruptible_run_that_could_never_finish_is_not_started_for_its_first_minutes",
         snap(run(1, shape(0, 3500), interruptible=True)), set(), {1: None}),
    Case("running_interruptible_run_is_paused_for_a_strictly_higher_priority",
         snap(running(1, flat(2000, 60), since=NOW - 30 * MIN, interruptible=True, min_run_s=600),
              run(2, flat(2000, 10), priority_class=6)),
         {(1, "pause"), (2, "start")}, {2: NOW, 1: NOW + 10 * MIN}),
    Case("running_interruptible_run_is_paused_when_age_lifts_another_above_it",
         snap(running(1, flat(2000, 60), since=NOW - 30 * MIN, interruptible=True),
              run(2, flat(2000, 10), at=NOW - 2 * HOUR, max_delay_s=6 * 3600)),  # exact 6.67 > 5, rounded 6 > 5
         {(1, "pause"), (2, "start")}, {2: NOW, 1: NOW + 10 * MIN}),
    Case("running_interruptible_run_is_not_paused_for_an_equal_priority",
         snap(running(1, flat(2000, 60), since=NOW - 30 * MIN, interruptible=True),
              run(2, flat(2000, 10), at=NOW - 2 * HOUR)),  # requested first, same class
         set(), {1: NOW, 2: NOW + 30 * MIN}),
    Case("running_interruptible_run_is_not_paused_for_an_equal_rounded_priority",
         snap(running(1, flat(2000, 60), since=NOW - 30 * MIN, interruptible=True),
              run(2, flat(2000, 10), at=NOW - HOUR, max_delay_s=6 * 3600)),  # exact 5.83, rounded 5
         set(), {1: NOW, 2: NOW + 30 * MIN}),
    Case("a_running_run_goes_first_only_until_it_pauses_anyway",  # then the earlier request goes first
         snap(running(1, shape(*[1500] * 10, *[1000] * 10), since=NOW),
              running(2, shape(*[1000] * 10, *[2500] * 20), since=NOW, at=NOW, interruptible=True),
              run(3, flat(2500, 10), at=NOW - HOUR)),
         set(), {1: NOW, 2: NOW, 3: NOW + 20 * MIN}, extra={"segments": {2: [(0, 10), (30, 50)]}}),
    Case("running_interruptible_run_is_not_paused_before_its_minimum_run",
         snap(running(1, flat(2000, 60), since=NOW - 5 * MIN, interruptible=True, min_run_s=600),
              run(2, flat(2000, 10), priority_class=9)),
         set(), {1: NOW, 2: NOW + 5 * MIN}),
    Case("paused_run_resumes_where_it_stopped",
         snap(paused(1, flat(2000, 30), since=NOW - 20 * MIN, progress_s=600, interruptible=True, min_pause_s=600)),
         {(1, "resume")}, {1: NOW}, extra={"segments": {1: [(0, 20)]}, "offset": {1: 600}}),
    Case("paused_run_does_not_resume_before_its_minimum_pause",
         snap(paused(1, flat(2000, 30), since=NOW - 5 * MIN, progress_s=600, interruptible=True, min_pause_s=600)),
         set(), {1: NOW + 5 * MIN}, extra={"offset": {1: 600}}),
    Case("running_non_interruptible_runs_are_committed_even_over_capacity",
         snap(running(1, flat(2000, 30), since=NOW - 10 * MIN), running(2, flat(2000, 30), since=NOW - 5 * MIN),
              run(3, flat(500, 10), priority_class=10)),
         set(), {1: NOW, 2: NOW, 3: NOW + 20 * MIN}),
    Case("past_its_deadline_a_run_still_starts_as_soon_as_it_fits",
         snap(run(1, flat(2000, 10), at=NOW - 2 * HOUR, latest_end=NOW - HOUR)),
         {(1, "start")}, {1: NOW}, extra={"late_s": {1: 70 * 60}}),
    Case("a_run_that_cannot_meet_its_deadline_is_placed_late",
         snap(running(1, flat(2500, 40), since=NOW), run(2, flat(2000, 30), latest_end=NOW + 20 * MIN)),
         set(), {1: NOW, 2: NOW + 40 * MIN}, extra={"late_s": {1: None, 2: 50 * 60}}),
    Case("a_stopped_run_gets_a_stop_and_frees_its_power",
         snap(run(2, flat(2500, 10)), ended=[Ended(1, "cancelled", "cancelled", "start")]),
         {(1, "stop"), (2, "start")}, {2: NOW}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plan_table(case: Case) -> None:
    result = plan(case.snapshot, case.now)
    assert decisions(result) == case.decisions
    planned = starts(result)
    assert {i: planned.get(i) for i in case.starts} == case.starts
    for i, stretches in case.extra.get("segments", {}).items():
        segments = placement(result, i).segments
        assert [((s.start - NOW) // MIN, (s.end - NOW) // MIN) for s in segments] == stretches
    for i, offset in case.extra.get("offset", {}).items():
        assert placement(result, i).segments[0].offset_s == offset
    for i, late in case.extra.get("late_s", {}).items():
        assert placement(result, i).late_s == late


# --- what the table cannot say in one line ---------------------------------------------------------


def test_unplaced_reason_names_the_peak_and_the_capacity() -> None:
    result = plan(snap(run(1, flat(4000, 5))), NOW)
    (unplaced,) = result.unplaced
    assert unplaced.execution_id == 1
    assert "4000 W" in unplaced.reason and "3000 W" in unplaced.reason


def test_pause_names_the_run_that_needs_the_power() -> None:
    result = plan(snap(running(1, flat(2000, 120), since=NOW - HOUR, interruptible=True),
                       run(2, flat(2000, 10), priority_class=8)), NOW)
    pause = next(d for d in result.decisions if d.kind == "pause")
    assert pause.reason == "power needed by higher priority #2"


def test_paused_run_is_planned_for_the_rest_of_its_profile_only() -> None:
    result = plan(snap(paused(1, flat(2000, 30), since=NOW - HOUR, progress_s=1200, interruptible=True)), NOW)
    (segment,) = placement(result, 1).segments
    assert (segment.start, segment.end, segment.offset_s) == (NOW, NOW + 10 * MIN, 1200)


def test_a_run_that_resumes_now_keeps_the_stretch_it_is_planned_with() -> None:
    """Once running, a run is not paused for an equal priority: so the plan that resumes it must
    not have it yield to one either, or the next tick moves the other's start."""
    waiting = run(1, flat(2000, 10), at=NOW - 2 * HOUR, earliest_start=NOW + 10 * MIN)  # first in claim order
    resuming = paused(2, flat(2000, 60), since=NOW - HOUR, progress_s=1800, interruptible=True)
    now_plan = plan(snap(waiting, resuming), NOW)
    assert decisions(now_plan) == {(2, "resume")}
    assert starts(now_plan) == {1: NOW + 30 * MIN, 2: NOW}
    next_plan = plan(apply_plan(snap(waiting, resuming), now_plan), NOW + MIN)
    assert starts(next_plan) == {1: NOW + 30 * MIN, 2: NOW + MIN}


def test_interruptible_run_honours_its_minimum_run_when_placed() -> None:
    """A 5-minute gap is too short for a 10-minute minimum run: the run waits for a longer one."""
    blocker = running(1, GAPPY, since=NOW)
    result = plan(snap(blocker, run(2, flat(1000, 12), interruptible=True, min_run_s=600)), NOW)
    assert placement(result, 2).start == NOW + 15 * MIN


@pytest.mark.parametrize("microseconds", [1, 499_999, 500_500, 999_999])
def test_runs_placed_now_start_and_keep_running_whatever_the_clocks_microseconds(microseconds) -> None:
    """A real clock's `now` has microseconds: slot 0 must still begin exactly at `now`."""
    now = NOW + timedelta(microseconds=microseconds)
    result = plan(snap(running(1, flat(1000, 60), since=NOW - 30 * MIN, interruptible=True),
                       run(2, flat(1000, 10), at=now)), now)
    assert decisions(result) == {(2, "start")}
    assert starts(result) == {1: now, 2: now}


def test_overdue_execution_is_finished_at_its_end_after_hours_of_downtime() -> None:
    result = plan(snap(running(1, flat(2000, 30), since=NOW - 5 * HOUR),
                       running(2, flat(2000, 30), since=NOW - 5 * HOUR, progress_s=600, interruptible=True),
                       running(3, flat(500, 600), since=NOW - 5 * HOUR),
                       paused(4, flat(500, 30), since=NOW - 5 * HOUR, progress_s=900, interruptible=True)), NOW)
    assert {(f.execution_id, f.ended_at) for f in result.finished} == {
        (1, NOW - 5 * HOUR + 30 * MIN), (2, NOW - 5 * HOUR + 20 * MIN)}
    assert decisions(result) == {(1, "stop"), (2, "stop"), (4, "resume")}
    assert placement(result, 3).end == NOW + 5 * HOUR


def test_a_run_ending_exactly_now_is_finished_now() -> None:
    result = plan(snap(running(1, flat(2000, 30), since=NOW - 30 * MIN)), NOW)
    assert [(f.execution_id, f.ended_at) for f in result.finished] == [(1, NOW)]
    assert result.placements == ()


def test_plan_reports_the_snapshots_problems() -> None:
    snapshot = Snapshot(home=home(), problems=("execution #7 skipped: bad",))
    assert plan(snapshot, NOW).problems == ("execution #7 skipped: bad",)


def test_empty_snapshot_plans_nothing() -> None:
    assert plan(snap(), NOW) == Plan(now=NOW)


# --- the priority rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "expected"), [
    (0 * HOUR, 5), (HOUR, 5), (2.4 * HOUR, 7), (2.4 * HOUR - MIN, 6), (6 * HOUR, 10), (30 * HOUR, 10),
])
def test_priority_rises_from_class_to_ten_at_the_maximum_delay(age, expected) -> None:
    r = run(1, flat(100, 1), at=NOW - age, max_delay_s=6 * 3600)
    assert priority(r, NOW.timestamp()) == expected


@pytest.mark.parametrize("klass", range(1, 11))
def test_priority_stays_at_the_class_without_a_maximum_delay(klass) -> None:
    r = run(1, flat(100, 1), at=NOW - 100 * HOUR, priority_class=klass)
    assert priority(r, NOW.timestamp()) == klass


def test_priority_of_a_request_from_the_future_is_its_class() -> None:
    r = run(1, flat(100, 1), at=NOW + HOUR, max_delay_s=3600)
    assert priority(r, NOW.timestamp()) == 5


def test_a_running_run_keeps_its_place_only_at_equal_rounded_priority() -> None:
    keep = running(1, flat(100, 1), since=NOW, interruptible=True)
    same = run(2, flat(100, 1), at=NOW - HOUR, max_delay_s=6 * 3600)  # 5.83
    higher = run(3, flat(100, 1), priority_class=6)
    order = sorted([same, higher, keep], key=lambda r: claim_order(r, NOW.timestamp()))
    assert [r.id for r in order] == [3, 1, 2]
    after_it_pauses = sorted([same, higher, keep], key=lambda r: claim_order(r, NOW.timestamp(), continuing=False))
    assert [r.id for r in after_it_pauses] == [3, 2, 1]


def test_runs_with_nearly_equal_ramps_swap_places_once_when_ticks_jitter() -> None:
    """Requested half a second apart with maximum delays 6 s apart, two runs cross once; with
    the age rounded to whole seconds their order flipped six times as ticks landed 0–1.5 s late."""
    a = run(1, flat(100, 1), at=NOW + timedelta(seconds=120.75), priority_class=3, max_delay_s=5262)
    b = run(2, flat(100, 1), at=NOW + timedelta(seconds=121.271925), priority_class=3, max_delay_s=5256)
    jitter = random.Random(7)
    ticks = [NOW.timestamp() + 180 + i * 60 + jitter.uniform(0, 1.5) for i in range(200)]
    order = [claim_order(a, t) < claim_order(b, t) for t in ticks]
    assert sum(x != y for x, y in zip(order, order[1:], strict=False)) == 1


def test_at_ten_the_run_that_got_there_first_stays_first() -> None:
    """A reached 10 an hour ago, B half an hour ago; B's earlier deadline does not put it first."""
    a = run(1, flat(2000, 10), at=NOW - 2 * HOUR, priority_class=1, max_delay_s=3600, latest_end=NOW + 3 * HOUR)
    b = run(2, flat(2000, 10), at=NOW - 2 * HOUR, priority_class=1, max_delay_s=5400, latest_end=NOW + HOUR)
    result = plan(snap(a, b), NOW)
    assert result.priorities == ((1, 10), (2, 10))
    assert decisions(result) == {(1, "start")}


@pytest.mark.parametrize("objective", ["solar", "cheapest"])
def test_cost_objectives_survive_a_second_run_of_a_running_appliance(objective) -> None:
    first = replace(running(1, flat(1000, 30), since=NOW - 5 * MIN, interruptible=True), appliance="washer")
    second = replace(run(2, flat(1000, 10), interruptible=True), appliance="washer")
    result = plan(snap(first, second, h=home(objective=objective)), NOW)
    assert placement(result, 2).start == NOW + 25 * MIN


# --- the cost objectives' stability: the newest tick's plan is the incumbent (planner/incumbent.py) --------


def test_starting_a_lower_priority_run_does_not_start_a_higher_one_at_the_same_now() -> None:
    now = NOW + timedelta(seconds=8)
    runs = [run(50, shape(*[2600] * 10, slot_s=300), at=NOW - 46 * MIN, priority_class=1),
            run(33, shape(900, slot_s=900), at=NOW - 30 * MIN, priority_class=8),
            run(84, shape(1700, slot_s=900), at=NOW - 2 * MIN, earliest_start=NOW + 8 * MIN, priority_class=3),
            run(406, shape(1100, 1100, 1100, slot_s=300), at=NOW - 29 * MIN, earliest_start=NOW + 31 * MIN,
                priority_class=2, max_delay_s=278)]
    s = snap(*runs, h=home(6700, slot_s=300, horizon_h=10, objective="cheapest"),
             pv=[interval(NOW - 4 * MIN, NOW + 100 * MIN, 900)],
             base=[interval(NOW - 2 * MIN, NOW + 14 * MIN, 300), interval(NOW + 74 * MIN, NOW + 304 * MIN, 2500)])
    first = plan(s, now)
    assert decisions(first) == {(50, "start")}
    assert plan(apply_plan(s, first), now).decisions == ()  # today: 33 starts now, placed at 06:15 before


def test_solar_plan_stands_still_while_nothing_changes() -> None:
    t = datetime(2026, 7, 2, 3, 17, tzinfo=UTC)
    a = paused(1, shape(5000, 5000, slot_s=900), since=t - 5 * MIN, progress_s=330, at=t - 28 * MIN,
               interruptible=True, priority_class=8)
    b = run(2, shape(5700, slot_s=900), at=t - 15 * MIN, interruptible=True)
    s = snap(a, b, h=home(7400, horizon_h=8, reserve_w=2465, objective="solar"),
             pv=[interval(t + 219 * MIN, t + 223 * MIN, 2000)], base=[interval(t + 164 * MIN, t + 370 * MIN, 0)])
    seen = []
    for minute in range(4):  # today: run 2 planned at 06:24, 06:22, 06:23, 06:24, ...
        result = plan(s, t + minute * MIN)
        assert result.decisions == ()
        seen.append(starts(result)[2])
        s = apply_plan(s, result)
    assert len(set(seen)) == 1, seen
