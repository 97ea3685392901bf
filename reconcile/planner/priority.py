"""Priorities from class and request age, and the order in which runs claim power. PURE."""

from fractions import Fraction

from reconcile.planner.domain import Run


def urgency(run: Run, now_s: float) -> Fraction:
    """Exact priority: the class at request, rising linearly to 10 at the maximum delay.

    Never below the class, never above 10, never decreasing with age. Kept exact (unrounded) for
    ordering so that two runs swap places at most once as they age: rounding first would let
    runs whose steps interleave swap back and forth, and plans with them.
    """
    if run.max_delay_s is None:
        return Fraction(run.priority_class)
    # The exact age, not whole seconds: rounded, two runs' ramps would step out of phase and
    # could swap places back and forth around the instant they cross when ticks jitter.
    age = max(Fraction(0), Fraction(now_s) - Fraction(run.requested_at.timestamp()))
    rise = min(Fraction(1), age / run.max_delay_s)
    return run.priority_class + (10 - run.priority_class) * rise


def priority(run: Run, now_s: float) -> int:
    """DESIGN.md's rule: `class + floor((10 - class) * min(1, age / max_delay))`, in 1..10."""
    return int(urgency(run, now_s))


def claim_order(run: Run, now_s: float, *, continuing: bool | None = None) -> tuple:
    """Sort key: who claims power first.

    Higher priority first; at equal (rounded) priority a running run keeps its place, so it is
    paused only for a strictly higher priority; then the exact priority; at 10, the run that
    reached 10 first stays first (ordering runs at 10 by deadline would let a run that reached
    10 later pass one that had passed it on the way up: a second swap); then the earlier
    deadline, the earlier request, the lower id. `continuing=False` gives a running run's key for
    what it claims after it pauses anyway: the place it would have if it were not running.
    """
    exact = urgency(run, now_s)
    deadline = run.latest_end.timestamp() if run.latest_end else float("inf")
    continuing = run.state == "running" if continuing is None else continuing
    return (-int(exact), not continuing, -exact, reached_ten(run) if exact == 10 else 0.0, deadline,
            run.requested_at, run.id)


def reached_ten(run: Run) -> float:
    """The instant (epoch seconds) from which `run`'s priority is 10."""
    rise = run.max_delay_s if run.priority_class < 10 and run.max_delay_s else 0
    return run.requested_at.timestamp() + rise
