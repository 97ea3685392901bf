"""The tick's pure core: `plan(snapshot, now)` finishes, prioritises, places and decides.

No session, clock, environment or printing here: the same snapshot and `now` give the same
plan. The invariant tests check is `plan(apply(s, plan(s, now)), now).decisions == ()`.
"""

from dataclasses import replace
from datetime import datetime

from reconcile.planner.domain import Decision, Placement, Plan, Run, Snapshot
from reconcile.planner.priority import priority
from reconcile.planner.states import Transition, completed_at, transition
from reconcile.planner.timetable import build_timetable


def plan(snapshot: Snapshot, now: datetime, *, timetable=build_timetable) -> Plan:
    """Everything the tick at `now` decides for `snapshot`.

    `timetable` builds the placements (the shell passes the exact planner for homes that use it).
    """
    now, behind = planning_instant(snapshot, now)
    now_s = now.timestamp()
    # Canonical order: the plan must not depend on the order rows came in (a query without ORDER BY).
    snapshot = replace(snapshot, runs=tuple(sorted(snapshot.runs, key=lambda r: r.id)),
                       ended=tuple(sorted(snapshot.ended, key=lambda e: e.id)))
    completions, still_open = finish_overdue(snapshot.runs, now)
    priorities = tuple((run.id, priority(run, now_s)) for run in still_open)
    placements, unplaced, _grid = timetable(snapshot, still_open, now_s)
    decisions = decide(still_open, placements, dict(priorities), now_s)
    by_id = {run.id: run for run in still_open}
    changes = completions + tuple(transition(by_id[d.execution_id], d.kind, now) for d in decisions)
    return Plan(
        now=now,
        transitions=changes,
        priorities=priorities,
        placements=placements,
        unplaced=unplaced,
        decisions=decisions + stops(snapshot, completions),
        problems=snapshot.problems,
        clock_behind_s=behind,
    )


def planning_instant(snapshot: Snapshot, now: datetime) -> tuple[datetime, float]:
    """The instant to plan at, and how far the given clock is behind the last tick's.

    A clock stepped back plans at the last tick's instant: replaying it would start runs again
    and shrink the progress of running ones.
    """
    last = snapshot.last_tick_at
    if last is not None and last > now:
        return last, (last - now).total_seconds()
    return now, 0.0


def finish_overdue(runs: tuple[Run, ...], now: datetime) -> tuple[tuple[Transition, ...], tuple[Run, ...]]:
    """Running runs whose profile is done end at the instant it was done, not at `now`."""
    finished, still_open = [], []
    for run in runs:
        if completed_at(run, now.timestamp()) is not None:
            finished.append(transition(run, "complete", now))
        else:
            still_open.append(run)
    return tuple(finished), tuple(still_open)


def decide(runs, placements: tuple[Placement, ...], priorities: dict[int, int], now: float):
    """Start or resume what the timetable runs now; pause running runs it no longer runs now."""
    on_now = {p.execution_id for p in placements if p.start.timestamp() <= now}
    higher_now = sorted(on_now)
    decisions = []
    for run in runs:
        if run.id in on_now and run.state == "pending":
            decisions.append(Decision(run.id, "start", f"fits now at priority {priorities[run.id]}"))
        elif run.id in on_now and run.state == "paused":
            decisions.append(Decision(run.id, "resume", f"fits again at priority {priorities[run.id]}"))
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
