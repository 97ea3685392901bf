"""PostgreSQL under concurrent writers: the races of test_concurrency.py and test_crash.py, again.

On PostgreSQL a write transaction locks its home's row first (`SELECT … FOR UPDATE`), so writes
to one home queue as they do behind SQLite's `BEGIN IMMEDIATE`: two ticks never both decide, a
cancel never loses to a tick that read the run before it, and a SIGKILLed tick rolls back whole.
Every process is a real OS process on a real server started by the tests (tests/postgres.py).
"""

import random
import signal
import time
from datetime import timedelta

import pytest

from reconcile.shell import catalog, requests
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.migrate import upgrade
from reconcile.shell.store import last_tick_now, load_home
from reconcile.shell.tick import run_tick
from tests.conftest import T0
from tests.test_concurrency import add_appliances, cpu_hogs, finish, forkserver, race_two_ticks, stamp_of, worker
from tests.test_crash import add_home_appliances, timetable, top_up
from tests.workers import cancel_at_barrier, check_database, query, tick_at_barrier, tick_until_killed

ENQUEUERS, ENQUEUES_EACH = 6, 100


@pytest.fixture
def pg_engine(pg_url):
    """A migrated PostgreSQL database with a 4.6 kW home in Berlin (300 W reserve), created at T0."""
    engine = make_engine(pg_url)
    upgrade(engine)
    with transaction(engine) as session:
        catalog.init_home(session, now=T0, limit_w=4600, timezone="Europe/Berlin", reserve_w=300)
    yield engine
    engine.dispose()


def test_enqueues_racing_two_tick_loops_are_stored_once_and_nothing_starts_twice(
        pg_engine, pg_url, tmp_path, reaper, record_property):
    add_appliances(pg_engine, ENQUEUERS * 4)
    with transaction(pg_engine) as session:
        catalog.init_home(session, now=T0, limit_w=6900, timezone="Europe/Berlin", horizon_s=7200)
    stop = tmp_path / "stop"
    clock = ["--t0", T0.isoformat(), "--wall0", repr(time.time()), "--speed", "600"]
    cpu_hogs(reaper, 1)
    tickers = [worker(reaper, "ticks", pg_url, str(stop), *clock, "--pause", "0.3") for _ in range(2)]
    mine = [",".join(f"w{i + ENQUEUERS * k}" for k in range(4)) for i in range(ENQUEUERS)]
    enqueued = [worker(reaper, "enqueue", pg_url, names, str(ENQUEUES_EACH), *clock, "--fresh-every", "10")
                for names in mine]
    results = [finish(p, timeout=240) for p in enqueued]
    stop.touch()
    ticked = [finish(p, timeout=60) for p in tickers]

    ids = [i for result in results for i in result["ids"]]
    assert len(ids) == len(set(ids)) == ENQUEUERS * ENQUEUES_EACH  # none lost, none twice
    stored = query(pg_url, "SELECT e.id, a.name, e.requested_at FROM execution e "
                           "JOIN appliance a ON a.id = e.appliance_id")
    assert sorted(row[0] for row in stored) == sorted(ids)
    labels = sorted((name, stamp_of(at)) for result in results for name, at in result["labels"])
    assert sorted((name, at.isoformat(sep=" ", timespec="microseconds")) for _, name, at in stored) == labels
    counts = check_database(pg_url)  # whole ticks, nothing started twice, states agree with decisions
    assert counts["starts"] > ENQUEUERS
    record_property("figures", {"enqueues": len(ids), "ticks": counts["tick"], "starts": counts["starts"],
                                "slowest_tick_ms": max(r["slowest_tick_ms"] for r in ticked)})


def test_two_ticks_released_together_never_start_a_run_twice(pg_engine, pg_url, reaper):
    add_appliances(pg_engine, 4)
    context = forkserver()
    for round_ in range(12):
        now = T0 + timedelta(minutes=3 * round_)
        with transaction(pg_engine) as session:
            for i in range(4):
                requests.enqueue(session, now=now, request=requests.Request(appliance=f"w{i}"))
        (first, second), _ticks = race_two_ticks(context, reaper, pg_url, now, wait_s=60)
        assert (first[0], second[0]) == ("ok", "ok"), (first, second)
        assert first[2], f"round {round_}: the first tick decided nothing"
        assert second[2] == [], f"round {round_}: the second tick repeated decisions {second[2]}"
        check_database(pg_url)


def test_a_cancel_racing_a_tick_is_never_overwritten(pg_engine, pg_url, reaper):
    """Each round a tick that would start a run and a cancel of that run are released together:
    whichever locks the home first, the run ends cancelled and is never left running."""
    add_appliances(pg_engine, 1)
    context, outcomes = forkserver(), []
    for round_ in range(12):
        now = T0 + timedelta(minutes=10 * round_)
        with transaction(pg_engine) as session:
            run = requests.enqueue(session, now=now, request=requests.Request(appliance="w0")).id
        barrier, results = context.Barrier(2), context.Queue()
        tick = reaper.process(context, target=tick_at_barrier, args=(pg_url, now.isoformat(), barrier, results))
        cancel = reaper.process(context, target=cancel_at_barrier,
                                args=(pg_url, now.isoformat(), run, barrier, results))
        for p in (tick, cancel):
            p.start()
        got = [results.get(timeout=60) for _ in range(2)]
        for p in (tick, cancel):
            p.join(timeout=30)
        assert all(kind == "ok" for kind, *_ in got), got
        outcomes.append(next(rest for kind, what, *rest in got if what == "cancel"))
        assert query(pg_url, "SELECT state FROM execution WHERE id = ?", (run,)) == [("cancelled",)], round_
        run_tick(engine=pg_engine, now=now + timedelta(minutes=1))  # a started one is told to stop
        check_database(pg_url)
    assert len(outcomes) == 12


def test_sigkilled_ticks_leave_whole_ticks_and_the_next_tick_is_correct(pg_engine, pg_url, reaper):
    add_home_appliances(pg_engine)
    top_up(pg_engine, T0)
    run_tick(engine=pg_engine, now=T0)
    context, rng, inside = forkserver(), random.Random(20261201), 0
    for round_ in range(30):
        began, done = context.Value("i", 0, lock=False), context.Value("i", 0, lock=False)
        ready = context.Event()
        ticker = reaper.process(context, target=tick_until_killed, args=(pg_url, 60, began, done, ready))
        ticker.start()
        assert ready.wait(timeout=60), "the ticking process never got going"
        time.sleep(rng.uniform(0, 0.3))
        ticker.kill()
        ticker.join(timeout=10)
        assert ticker.exitcode == -signal.SIGKILL
        inside += began.value > done.value
        time.sleep(0.2)  # the server notices the dropped connection and rolls its transaction back
        check_database(pg_url)
        before = timetable(pg_url)
        with transaction(pg_engine) as session:
            last = last_tick_now(session, load_home(session).id)
        again = run_tick(engine=pg_engine, now=last)
        assert again.plan.decisions == (), f"round {round_}: the next tick repeated {again.plan.decisions}"
        assert timetable(pg_url) == before
        top_up(pg_engine, last)
        run_tick(engine=pg_engine, now=last)
    assert inside >= 10  # most kills landed inside a tick
