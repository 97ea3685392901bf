"""A tick killed with SIGKILL at a random instant leaves no partial tick and an intact database.

DESIGN.md: "A crash anywhere leaves the database as before the tick". One database is reused
across all rounds (so the WAL carries whatever earlier kills left behind). Each round a fresh
process ticks in a loop, one simulated minute apart, over 6–18 open runs that compete for power
(so ticks start, pause, resume, finish and stop), and is SIGKILLed after a random 0–300 ms.
After each kill: `PRAGMA integrity_check`, every tick whole (`check_database`), then a tick at
the last committed tick's `now` succeeds, decides nothing (idempotent) and rebuilds exactly the
same timetable (deterministic); then runs are topped up (and a tick plans them) for the next round.
"""

import random
import signal
import time

from reconcile.shell import catalog, requests
from reconcile.shell.db import transaction
from reconcile.shell.store import last_tick_now, load_home
from reconcile.shell.tick import run_tick
from tests.conftest import T0
from tests.test_concurrency import forkserver
from tests.workers import check_database, query, tick_until_killed

KILLS = 120
MAX_DELAY_S = 0.3
OPEN_RUNS = 12
# name, pausable, priority class, max delay (s), watts per minute. Each draws 1.2–3 kW of the
# home's 4.3 kW, so one or two run at a time; urgent pausable ones (heater, heat pump) arrive
# while low-class long ones (EV, dryer) run, and ageing raises waiting runs: ticks start, pause,
# resume, finish and stop.
APPLIANCES = (
    ("washer", False, 5, 3 * 3600, [2000.0] * 6 + [300.0] * 4),
    ("dryer", True, 3, 4 * 3600, [2500.0] * 15),
    ("dishwasher", False, 4, 3 * 3600, [1800.0] * 5 + [100.0] * 5),
    ("heater", True, 9, 1800, [2500.0] * 8),
    ("ev", True, 1, 6 * 3600, [3000.0] * 30),
    ("heatpump", True, 8, 1800, [1200.0] * 6),
)


def test_sigkilled_ticks_leave_whole_ticks_and_the_next_tick_is_correct(home_engine, db_path,
                                                                        record_property, reaper):
    add_home_appliances(home_engine)
    top_up(home_engine, T0)
    run_tick(engine=home_engine, now=T0)
    context, url, rng = forkserver(), f"sqlite:///{db_path}", random.Random(20260630)
    inside = committed_total = 0
    startup = []
    started_at = time.perf_counter()
    for round_ in range(KILLS):
        began, done = context.Value("i", 0, lock=False), context.Value("i", 0, lock=False)
        ready = context.Event()
        ticker = reaper.process(context, target=tick_until_killed, args=(url, 60, began, done, ready))
        launched = time.perf_counter()
        ticker.start()
        assert ready.wait(timeout=30), "the ticking process never got going"
        startup.append(time.perf_counter() - launched)
        time.sleep(rng.uniform(0, MAX_DELAY_S))
        ticker.kill()
        ticker.join(timeout=10)
        assert ticker.exitcode == -signal.SIGKILL, f"round {round_}: the ticker ended ({ticker.exitcode})"
        inside += began.value > done.value
        committed_total += done.value

        check_database(db_path)  # integrity_check ok, no partial tick, nothing started twice
        timetable_before = timetable(db_path)
        with transaction(home_engine) as session:
            last = last_tick_now(session, load_home(session).id)
        again = run_tick(engine=home_engine, now=last)
        assert again.plan.decisions == (), f"round {round_}: the next tick repeated {again.plan.decisions}"
        assert timetable(db_path) == timetable_before, f"round {round_}: same database and now, new timetable"
        check_database(db_path)
        top_up(home_engine, last)
        run_tick(engine=home_engine, now=last)  # the newest tick again reflects every request
    counts = check_database(db_path)
    figures = {"kills": KILLS, "kills_inside_run_tick": inside,
               "ticks_committed_by_killed_processes": committed_total, "ticks": counts["tick"],
               "decisions": decision_kinds(db_path), "wall_s": round(time.perf_counter() - started_at, 1),
               "median_process_start_ms": round(sorted(startup)[len(startup) // 2] * 1000)}
    record_property("figures", figures)
    print(f"\ncrash figures: {figures}")
    assert inside >= KILLS // 2  # most kills really landed inside a tick, not between two
    assert {"start", "stop"} <= set(figures["decisions"])  # the killed ticks had work to do


def add_home_appliances(engine) -> None:
    with transaction(engine) as session:
        for name, pausable, klass, max_delay, watts in APPLIANCES:
            catalog.add_appliance(session, now=T0, name=name, interruptible=pausable, priority_class=klass,
                                  max_delay_s=max_delay, min_run_s=120 if pausable else 0,
                                  min_pause_s=60 if pausable else 0)
            catalog.add_profile(session, now=T0, appliance=name, name="normal", slot_s=60, watts=watts)


def top_up(engine, now) -> None:
    """Below OPEN_RUNS open runs, one new run of each appliance: urgent ones arrive while the
    low-class runs left over from the last batch are running."""
    with transaction(engine) as session:
        if len(requests.list_executions(session, include_closed=False)) < OPEN_RUNS:
            for name, *_ in APPLIANCES:
                requests.enqueue(session, now=now, request=requests.Request(appliance=name))


def timetable(path) -> list[tuple]:
    return query(path, "SELECT execution_id, seq, starts_at, ends_at, offset_s FROM timetableentry "
                       "ORDER BY execution_id, seq")


def decision_kinds(path) -> dict[str, int]:
    return dict(query(path, "SELECT kind, count(*) FROM decision GROUP BY kind"))
