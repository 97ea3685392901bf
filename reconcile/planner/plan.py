"""The tick's pure core: `plan(snapshot, now)` finishes, prioritises, places and decides.

No session, clock, environment or printing here: the same snapshot and `now` give the same
plan. The invariant tests check is `plan(apply(s, plan(s, now)), now).decisions == ()`.
"""

from dataclasses import replace
from datetime import UTC, datetime

from reconcile.planner.domain import Decision, Finish, Placement, Plan, Run, Snapshot
from reconcile.planner.priority import priority
from reconcile.planner.timetable import build_timetable, progress_at


def plan(snapshot: Snapshot, now: datetime, *, timetable=None) -> Plan:
    """Everything the tick at `now` decides for `snapshot`.

    `timetable` builds the placements (default: the home's planner, greedy or optimal).
    """
    timetable = timetable or timetable_for(snapshot.home.planner)
    now_s = now.timestamp()
    # Canonical order: the plan must not depend on the order rows came in (a query without ORDER BY).
    snapshot = replace(snapshot, runs=tuple(sorted(snapshot.runs, key=lambda r: r.id)),
                       ended=tuple(sorted(snapshot.ended, key=lambda e: e.id)))
    finished, still_open = finish_overdue(snapshot.runs, now_s)
    priorities = tuple((run.id, priority(run, now_s)) for run in still_open)
    placements, unplaced, _grid = timetable(snapshot, still_open, now_s)
    decisions = decide(still_open, placements, dict(priorities), now_s) + stops(snapshot, finished)
    return Plan(
        now=now,
        finished=finished,
        priorities=priorities,
        placements=placements,
        unplaced=unplaced,
        decisions=decisions,
        problems=snapshot.problems,
    )


def timetable_for(planner: str):
    """The timetable builder of a home's planner; the exact one imports HiGHS only when used."""
    if planner == "optimal":
        from reconcile.shell.optimal import timetable_optimal

        return timetable_optimal
    return build_timetable


def finish_overdue(runs: tuple[Run, ...], now: float) -> tuple[tuple[Finish, ...], tuple[Run, ...]]:
    """Running runs whose profile is done end at the instant it was done, not at `now`."""
    finished, still_open = [], []
    for run in runs:
        if run.state == "running" and progress_at(run, now) >= run.shape.duration_s:
            since = run.state_since.timestamp() if run.state_since else now
            ended = since + run.shape.duration_s - run.progress_s
            finished.append(Finish(run.id, datetime.fromtimestamp(round(ended, 6), UTC)))
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


def stops(snapshot: Snapshot, finished: tuple[Finish, ...]) -> tuple[Decision, ...]:
    """A stop for every run that left `running` while its appliance was last told to run."""
    decisions = [Decision(f.execution_id, "stop", "profile complete") for f in finished]
    for ended in snapshot.ended:
        if ended.last_command in ("start", "resume"):
            why = "cancelled by the user" if ended.state == "cancelled" else "reported done"
            decisions.append(Decision(ended.id, "stop", why))
    return tuple(decisions)
