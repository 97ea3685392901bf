"""The tick's pure core: `plan(snapshot, now)` finishes, prioritises, places and decides.

No session, clock, environment or printing here: the same snapshot and `now` give the same
plan. The invariant tests check is `plan(apply(s, plan(s, now)), now).decisions == ()`.
"""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reconcile.planner.domain import CLOCK_STEP_BACK_S, Decision, Home, Placement, Plan, Run, Snapshot
from reconcile.planner.modulating import with_setpoints
from reconcile.planner.priority import priority
from reconcile.planner.states import Transition, completed_at, covered, transition
from reconcile.planner.timetable import build_timetable

LAST_INSTANT = datetime(9999, 12, 29, tzinfo=UTC)  # the calendar ends two days later: room for the grid's tail


def plan(snapshot: Snapshot, now: datetime, *, timetable=build_timetable) -> Plan:
    """Everything the tick at `now` decides for `snapshot`.

    `timetable` builds the placements (the shell passes the exact planner for homes that use it).
    """
    now, behind = planning_instant(snapshot, now)
    now_s = now.timestamp()
    last = snapshot.last_tick_at
    # Canonical order: the plan must not depend on the order rows came in (a query without ORDER BY).
    runs = tuple(sorted((covered(r, last, now) for r in snapshot.runs), key=lambda r: r.id))
    snapshot = replace(snapshot, runs=runs, ended=tuple(sorted(snapshot.ended, key=lambda e: e.id)))
    # Progress is never counted at an instant before the newest tick's: after the clock came back,
    # what is over was over by then.
    completions, still_open = finish_overdue(snapshot.runs, max(now, last) if last else now)
    lapses, still_open, resumes = lapse(still_open, now, behind if behind > CLOCK_STEP_BACK_S else 0.0)
    priorities = tuple((run.id, priority(run, now_s)) for run in still_open)
    placements, unplaced, _grid = timetable(snapshot, still_open, now_s)
    decisions = with_setpoints(decide(still_open, placements, dict(priorities), now_s, resumes), still_open,
                               placements, now_s)
    by_id = {run.id: run for run in still_open}
    changes = completions + lapses + tuple(  # a lapsed running run's resume is its lapse: no second change
        transition(by_id[d.execution_id], d.kind, now, d.power_w) for d in decisions
        if not (d.kind == "resume" and d.execution_id in resumes))
    return Plan(
        now=now,
        transitions=changes,
        priorities=priorities,
        placements=placements,
        unplaced=unplaced,
        decisions=decisions + stops(snapshot, completions),
        problems=snapshot.problems,
        clock_behind_s=behind,
        clock_returned=behind > CLOCK_STEP_BACK_S,
    )


def planning_instant(snapshot: Snapshot, now: datetime) -> tuple[datetime, float]:
    """The instant to plan at, and how far the given clock is behind the newest tick's.

    A clock up to CLOCK_STEP_BACK_S behind the newest tick plans at that tick's instant:
    replaying it would start runs again. Further behind, the newest tick's instant was a jump (a
    `--now` in the future, an NTP step forward then back) and the clock has come back: the plan
    works at `now` again instead of freezing until the clock catches up with the jump.
    """
    last = snapshot.last_tick_at
    if last is not None and last > now:
        behind = (last - now).total_seconds()
        return (last if behind <= CLOCK_STEP_BACK_S else now), behind
    return now, 0.0


def latest_now(home: Home) -> datetime:
    """The latest instant a tick can plan at: its horizon must end before the calendar does."""
    return LAST_INSTANT - timedelta(seconds=min(home.horizon_s + home.slot_s, 10**11))


def lapse(runs: tuple[Run, ...], now: datetime, returned_s: float):
    """Runs no decision vouched for up to `now` restart their record at `now`: (transitions, the
    runs as they are then, {id: why} of the running ones, which are told to resume at once).

    A running run whose cover ended before `now` (the ticks stopped, or the clock jumped ahead)
    was switched off by its actuator then: its progress counts to the end of its cover, and it
    resumes where it was (or is paused, if its power is needed). After the clock came back
    (`returned_s` > 0 behind the newest tick), every running run is counted to that tick's
    instant and runs on from `now`, and a paused run's pause restarts at `now`: nothing waits for
    the clock to catch up.
    """
    changes, after, resumes = [], [], {}
    for run in runs:
        since_after_now = run.state_since is not None and run.state_since > now
        if run.state == "running" and (returned_s > 0 or (run.covered_until and run.covered_until < now)):
            change = transition(run, "lapse", now)
            why = (f"the clock came back {returned_s:.0f}s" if returned_s > 0
                   else f"nothing vouched for it after {run.covered_until.isoformat(timespec='seconds')}")
            resumes[run.id] = f"resumes at {change.progress_s:.0f}s of {run.shape.duration_s}s: {why}"
        elif run.state == "paused" and since_after_now:
            change = transition(run, "lapse", now)
        else:
            after.append(run)
            continue
        changes.append(change)
        after.append(replace(run, state_since=change.state_since, progress_s=change.progress_s, covered_until=None))
    return tuple(changes), tuple(after), resumes


def finish_overdue(runs: tuple[Run, ...], now: datetime) -> tuple[tuple[Transition, ...], tuple[Run, ...]]:
    """Running runs whose profile is done end at the instant it was done, not at `now`."""
    finished, still_open = [], []
    for run in runs:
        if completed_at(run, now.timestamp()) is not None:
            finished.append(transition(run, "complete", now))
        else:
            still_open.append(run)
    return tuple(finished), tuple(still_open)


def decide(runs, placements: tuple[Placement, ...], priorities: dict[int, int], now: float,
           resumes: dict[int, str] | None = None):
    """Start or resume what the timetable runs now; pause running runs it no longer runs now.

    `resumes`: running runs whose cover lapsed (`lapse`): told to resume if they run now."""
    resumes = resumes or {}
    on_now = {p.execution_id for p in placements if p.start.timestamp() <= now}
    higher_now = sorted(on_now)
    decisions = []
    for run in runs:
        if run.id in on_now and run.state == "pending":
            decisions.append(Decision(run.id, "start", f"fits now at priority {priorities[run.id]}"))
        elif run.id in on_now and run.state == "paused":
            decisions.append(Decision(run.id, "resume", f"fits again at priority {priorities[run.id]}"))
        elif run.id in on_now and run.id in resumes:
            decisions.append(Decision(run.id, "resume", resumes[run.id]))
        elif run.id not in on_now and run.state == "running":
            takers = [i for i in higher_now if priorities[i] > priorities[run.id]]
            why = f"power needed by higher priority #{', #'.join(map(str, takers))}" if takers else (
                "capacity now below its need")
            decisions.append(Decision(run.id, "pause", why))
    return tuple(decisions)


STOP_REASONS = {  # end_reason -> why the appliance is told to stop
    "cancelled": "cancelled by the user", "done": "reported done", "completed": "profile complete"}


def stops(snapshot: Snapshot, completions: tuple[Transition, ...]) -> tuple[Decision, ...]:
    """A stop for every run that left `running` while its appliance was last told to run."""
    decisions = [Decision(c.execution_id, "stop", STOP_REASONS["completed"]) for c in completions]
    for ended in snapshot.ended:
        if ended.last_command in ("start", "resume"):
            reason = "cancelled" if ended.state == "cancelled" else ended.end_reason
            why = STOP_REASONS.get(reason, STOP_REASONS["done"])
            decisions.append(Decision(ended.id, "stop", why))
    return tuple(decisions)
