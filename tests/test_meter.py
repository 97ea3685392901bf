"""The meter corrects the capacity of the slot holding now (planner.meter): pure, no database."""

from dataclasses import replace
from datetime import timedelta

from reconcile.planner.domain import Meter
from reconcile.planner.meter import managed_w, metered_capacity
from reconcile.planner.plan import plan
from tests.helpers import NOW, flat, home, run, running, snap

SECOND = timedelta(seconds=1)


def metered(*runs, import_w, age_s=0, max_age_s=60):
    return replace(snap(*runs, h=home(4600, reserve_w=300)),
                   meter=Meter(import_w, NOW - age_s * SECOND, max_age_s, grace_s=60))


def kinds(snapshot) -> list[tuple[int, str]]:
    return [(d.execution_id, d.kind) for d in plan(snapshot, NOW).decisions]


def test_a_high_measured_import_keeps_a_run_from_starting_now() -> None:
    washer = run(1, flat(3000, 30))
    assert kinds(metered(washer, import_w=500)) == [(1, "start")]  # 4600 − 500 leaves room
    assert kinds(metered(washer, import_w=2500)) == []  # 2100 W left now: it waits for the next slot
    assert plan(metered(washer, import_w=2500), NOW).placements[0].start == NOW.replace(minute=1)


def test_what_managed_runs_draw_is_not_counted_as_unmanaged_load() -> None:
    heater = running(1, flat(2000, 120), since=NOW - 10 * 60 * SECOND, interruptible=True)
    snapshot = metered(heater, run(2, flat(2000, 30)), import_w=2300)  # 2000 W heater + 300 W house
    assert metered_capacity(snapshot, NOW.timestamp(), 4300) == 4600 - 300
    assert kinds(snapshot) == [(2, "start")]


def test_a_run_switched_on_within_the_grace_counts_as_unmanaged_until_it_draws() -> None:
    just_started = running(1, flat(2000, 120), since=NOW - 10 * SECOND)
    assert managed_w((just_started,), NOW, grace_s=60) == 0.0
    assert managed_w((just_started,), NOW + 60 * SECOND, grace_s=60) == 2000.0


def test_a_stale_or_missing_reading_starts_nothing_new_and_keeps_what_runs() -> None:
    heater = running(1, flat(2000, 120), since=NOW - 10 * 60 * SECOND, interruptible=True)
    stale = metered(heater, run(2, flat(1000, 30)), import_w=100, age_s=61)
    assert kinds(stale) == []  # the heater keeps running, the new run waits
    never = replace(stale, meter=Meter(None, None, 60))
    assert kinds(never) == []
    assert kinds(replace(stale, meter=None)) == [(2, "start")]  # no meter configured: the forecast decides


def test_an_overload_measured_now_pauses_a_pausable_run() -> None:
    heater = running(1, flat(2000, 120), since=NOW - 10 * 60 * SECOND, interruptible=True)
    assert kinds(metered(heater, import_w=6000)) == [(1, "pause")]  # 4000 W unmanaged: 600 W left
