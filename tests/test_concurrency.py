"""SQLite under concurrent writers: real processes enqueue while ticks run, and ticks collide.

DESIGN.md, "Guarantees": WAL, a busy timeout and `BEGIN IMMEDIATE` on every write transaction,
so an enqueue that races a tick waits for it instead of failing with "database is locked", and
two ticks serialise on the write lock. Every process here is a real OS process (a subprocess
running `python -m tests.workers`, or a forkserver child); none is a thread.
"""

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from reconcile.shell import catalog, requests
from reconcile.shell.db import BUSY_TIMEOUT_MS, make_engine, require_head, transaction
from reconcile.shell.tick import run_tick
from tests.conftest import T0
from tests.workers import check_database, query, tick_at_barrier

ROOT = Path(__file__).resolve().parents[1]
ENQUEUERS, ENQUEUES_EACH, TICKERS = 8, 250, 2
APPLIANCES_EACH = 4  # each enqueuer asks for its own 4 appliances in turn (one run at a time each)
SPEED = 600  # virtual seconds per wall second: the ticks' now advances 10 minutes per second
TICK_PAUSE_S = 0.5  # between two ticks of a loop (the timer's period is 60 s)
FRESH_EVERY = 10  # every 10th enqueue opens a new engine and connection, as a CLI process does
HOGS = 2  # busy-loop processes competing for the CPU during the race (the loaded 2-core machine)


def forkserver():
    """A multiprocessing context whose children fork from a server that imported wattplan once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "tests.workers"])  # __main__: pytest, imported once
    return context


def worker(reaper, *args: str) -> subprocess.Popen:
    """`python -m tests.workers ARGS` in a fresh interpreter, as a separate process (reaped)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return reaper.popen([sys.executable, "-m", "tests.workers", *args], cwd=ROOT, env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cpu_hogs(reaper, count: int = HOGS) -> None:
    """`count` busy loops, one per core of a CI machine: the race runs on a loaded machine."""
    for _ in range(count):
        reaper.popen([sys.executable, "-c", "while True: pass"])


def add_appliances(engine, count: int) -> None:
    """`count` appliances `w0`…, 1–4 minute cycles, in groups of 8: two bigger ones (0.4–0.5 kW)
    that compete for power (w0 pausable, priority class 2; w1 class 9, so w1 pauses w0) and six
    small ones (30–80 W)."""
    watts = [500.0, 400.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]
    with transaction(engine) as session:
        for i in range(count):
            pausable = i % 2 == 0
            catalog.add_appliance(session, now=T0, name=f"w{i}", interruptible=pausable,
                                  min_run_s=60 if pausable else 0, min_pause_s=60 if pausable else 0,
                                  priority_class={0: 2, 1: 9}.get(i % 8, 5))
            catalog.add_profile(session, now=T0, appliance=f"w{i}", name="p", slot_s=60,
                                watts=[watts[i % len(watts)]] * (1 + i % 4))


# --- the engine's SQLite settings ------------------------------------------------------------


def test_every_connection_gets_wal_busy_timeout_foreign_keys_and_synchronous_normal(engine):
    with engine.connect() as connection:
        read = {name: connection.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")}
    assert read == {"journal_mode": "wal", "busy_timeout": BUSY_TIMEOUT_MS, "foreign_keys": 1,
                    "synchronous": 1}  # NORMAL
    assert BUSY_TIMEOUT_MS >= 5000


def test_a_write_transaction_holds_the_write_lock_from_its_first_statement(home_engine, db_path):
    """`transaction()` begins IMMEDIATE: even before it writes, another process cannot write.

    A deferred BEGIN would take no lock until the first write, and a read that later upgrades
    to a write fails at once with SQLITE_BUSY whatever the timeout. Readers are never blocked (WAL).
    """
    probe = [sys.executable, "-c", PROBE, str(db_path)]
    with transaction(home_engine) as session:
        session.execute(text("SELECT count(*) FROM execution")).scalar()  # only a read so far
        held = json.loads(subprocess.run(probe, capture_output=True, text=True, check=True).stdout)
    free = json.loads(subprocess.run(probe, capture_output=True, text=True, check=True).stdout)
    assert held == {"read": 0, "write": "database is locked"}
    assert free == {"read": 0, "write": "ok"}


PROBE = """
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
result = {"read": c.execute("SELECT count(*) FROM execution").fetchone()[0]}
try:
    c.execute("BEGIN IMMEDIATE"); c.execute("ROLLBACK"); result["write"] = "ok"
except sqlite3.OperationalError as error:
    result["write"] = str(error)
print(json.dumps(result))
"""


def test_the_schema_check_reads_without_queueing_for_the_write_lock(home_engine, db_path):
    """Every command checks the schema revision first: a plain read, so it never waits behind a tick."""
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a tick in progress
    try:
        started = time.perf_counter()
        require_head(make_engine(f"sqlite:///{db_path}"))
        assert time.perf_counter() - started < 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_deferred_read_then_write_fails_at_once_which_is_why_begin_is_immediate(home_engine, db_path):
    """The failure the recipe avoids, shown with plain sqlite3 and a 10 s timeout that never helps."""
    first, second = (sqlite3.connect(db_path, timeout=10, isolation_level=None) for _ in range(2))
    first.execute("BEGIN")
    second.execute("BEGIN")
    first.execute("SELECT count(*) FROM home").fetchone()
    second.execute("SELECT count(*) FROM home").fetchone()
    first.execute("UPDATE home SET reserve_w = reserve_w")
    started = time.perf_counter()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        second.execute("UPDATE home SET reserve_w = reserve_w")
    assert time.perf_counter() - started < 1  # no waiting: the busy timeout cannot help a stale reader
    first.execute("COMMIT")
    second.execute("ROLLBACK")
    first.close()
    second.close()


# --- many enqueuers racing two tick loops ----------------------------------------------------


def test_enqueues_racing_two_tick_loops_are_all_stored_once_and_nothing_starts_twice(
        home_engine, db_path, tmp_path, record_property, reaper):
    add_appliances(home_engine, ENQUEUERS * APPLIANCES_EACH)
    with transaction(home_engine) as session:  # a 2 h horizon keeps a tick of hundreds of runs short
        catalog.init_home(session, now=T0, limit_w=6900, timezone="Europe/Berlin", horizon_s=7200)
    url, stop = f"sqlite:///{db_path}", tmp_path / "stop"
    clock = ["--t0", T0.isoformat(), "--wall0", repr(time.time()), "--speed", str(SPEED)]
    cpu_hogs(reaper)
    started = time.perf_counter()
    tickers = [worker(reaper, "ticks", url, str(stop), *clock, "--pause", str(TICK_PAUSE_S)) for _ in range(TICKERS)]
    mine = [",".join(f"w{i + ENQUEUERS * k}" for k in range(APPLIANCES_EACH)) for i in range(ENQUEUERS)]
    enqueuers = [worker(reaper, "enqueue", url, names, str(ENQUEUES_EACH), *clock, "--fresh-every", str(FRESH_EVERY))
                 for names in mine]
    enqueued = [finish(p, timeout=170) for p in enqueuers]
    enqueue_wall = time.perf_counter() - started
    stop.touch()
    ticked = [finish(p, timeout=30) for p in tickers]

    ids = [i for result in enqueued for i in result["ids"]]
    assert len(ids) == len(set(ids)) == ENQUEUERS * ENQUEUES_EACH
    stored = query(db_path, "SELECT e.id, a.name, e.requested_at FROM execution e "
                            "JOIN appliance a ON a.id = e.appliance_id")
    assert sorted(row[0] for row in stored) == sorted(ids)
    labels = sorted((name, stamp_of(at)) for result in enqueued for name, at in result["labels"])
    assert sorted((name, at) for _, name, at in stored) == labels  # each request once, as asked
    counts = check_database(db_path)  # intact, whole ticks, no execution started twice
    kinds = dict(query(db_path, "SELECT kind, count(*) FROM decision GROUP BY kind"))
    assert counts["starts"] > ENQUEUERS  # the ticks really did start runs while enqueues raced them
    figures = {"processes": f"{ENQUEUERS} enqueuers x {ENQUEUES_EACH} + {TICKERS} tick loops",
               "enqueues": len(ids), "ticks": counts["tick"], "decisions": kinds,
               "wall_s": round(enqueue_wall, 1),
               "max_enqueue_latency_ms": max(r["max_latency_ms"] for r in enqueued),
               "p99_enqueue_latency_ms": max(r["p99_latency_ms"] for r in enqueued),
               "median_enqueue_latency_ms": max(r["median_latency_ms"] for r in enqueued),
               "slowest_tick_ms": max(r["slowest_tick_ms"] for r in ticked),
               "longest_lock_ms": max(r["longest_lock_ms"] for r in ticked),
               "replans": sum(r["replans"] for r in ticked),
               "most_runs_planned": max(r["most_runs_planned"] for r in ticked), "cpu_hogs": HOGS}
    record_property("figures", figures)
    print(f"\nconcurrency figures: {json.dumps(figures)}")


def finish(process: subprocess.Popen, *, timeout: float) -> dict:
    """The worker's JSON result; it must exit 0 with nothing on stderr (no "database is locked")."""
    out, err = process.communicate(timeout=timeout)
    assert (process.returncode, err) == (0, ""), err
    return json.loads(out)


def stamp_of(iso: str) -> str:
    """How SQLite stores an aware UTC instant (naive, space-separated, microseconds)."""
    naive = datetime.fromisoformat(iso).astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="microseconds")


# --- two ticks at once -----------------------------------------------------------------------

ROUNDS = 25


def test_two_ticks_released_together_never_start_a_run_twice(home_engine, db_path, record_property, reaper):
    """Each round: new requests, then two processes tick at the same `now`, released by a barrier.

    One tick takes the write lock and decides; the other waits for it (busy timeout), then sees
    those decisions and, the plan being idempotent, makes none.
    """
    add_appliances(home_engine, 4)
    context, url = forkserver(), f"sqlite:///{db_path}"
    waited = 0
    for round_ in range(ROUNDS):
        now = T0 + timedelta(minutes=3 * round_)
        with transaction(home_engine) as session:
            for i in range(4):
                requests.enqueue(session, now=now, request=requests.Request(appliance=f"w{i}"))
        outcomes, ticks = race_two_ticks(context, reaper, url, now, wait_s=30)
        for p in ticks:
            assert p.exitcode == 0
        assert [kind for kind, *_ in outcomes] == ["ok", "ok"], outcomes
        first, second = outcomes
        assert first[2], f"round {round_}: the first tick decided nothing"
        assert second[2] == [], f"round {round_}: the second tick repeated decisions {second[2]}"
        waited += 1
        check_database(db_path)
    record_property("figures", {"rounds": ROUNDS, "second_tick_made_no_decision": waited})


def race_two_ticks(context, reaper, url: str, now, *, wait_s: float) -> tuple[list, list]:
    """Two tick processes at `now`, released together by a barrier: their outcomes ordered by tick
    id (`tick_at_barrier`), and the processes, joined."""
    barrier, results = context.Barrier(2), context.Queue()
    ticks = [reaper.process(context, target=tick_at_barrier, args=(url, now.isoformat(), barrier, results))
             for _ in range(2)]
    for p in ticks:
        p.start()
    outcomes = sorted((results.get(timeout=wait_s) for _ in ticks), key=lambda r: r[1])
    for p in ticks:
        p.join(timeout=wait_s)
    return outcomes, ticks


def test_a_tick_waits_for_an_open_enqueue_instead_of_failing(home_engine, db_path, reaper):
    """A tick started while an enqueue holds the write lock waits, then sees the new request."""
    add_appliances(home_engine, 1)
    url = f"sqlite:///{db_path}"
    code = ("import sys; from datetime import datetime; from reconcile.shell.db import make_engine; "
            "from reconcile.shell.tick import run_tick; "
            "r = run_tick(engine=make_engine(sys.argv[1]), now=datetime.fromisoformat(sys.argv[2])); "
            "print([d.kind for d in r.plan.decisions])")
    with transaction(home_engine) as session:
        requests.enqueue(session, now=T0, request=requests.Request(appliance="w0"))
        tick = reaper.popen([sys.executable, "-c", code, url, T0.isoformat()], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the tick process starts and blocks on BEGIN IMMEDIATE
        assert tick.poll() is None
    out, err = tick.communicate(timeout=30)
    assert (tick.returncode, err, out.strip()) == (0, "", "['start']")
    assert run_tick(engine=make_engine(url), now=T0).plan.decisions == ()


TICK_CODE = ("import json, sys; from datetime import datetime; from reconcile.shell.db import make_engine; "
             "from reconcile.shell.tick import run_tick; "
             "r = run_tick(engine=make_engine(sys.argv[1]), now=datetime.fromisoformat(sys.argv[2])); "
             "print(json.dumps({'decisions': [d.kind for d in r.plan.decisions], 'replans': r.replans}))")


def test_a_tick_plans_outside_the_lock_and_plans_again_when_a_run_was_cancelled_meanwhile(
        home_engine, db_path, reaper):
    """The tick plans while another writer holds the lock; that writer cancels the run the plan
    would start. The tick sees the commit (PRAGMA data_version), plans again and starts nothing."""
    add_appliances(home_engine, 1)
    with transaction(home_engine) as session:
        run = requests.enqueue(session, now=T0, request=requests.Request(appliance="w0")).id
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        tick = reaper.popen([sys.executable, "-c", TICK_CODE, f"sqlite:///{db_path}", T0.isoformat()],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)  # the tick loads and plans (a start of the run), then waits for the lock
        assert tick.poll() is None
        holder.execute("UPDATE execution SET state = 'cancelled', end_reason = 'cancelled', "
                       "ended_at = state_since WHERE id = ?", (run,))
        holder.execute("COMMIT")
    finally:
        holder.close()
    out, err = tick.communicate(timeout=60)
    assert (tick.returncode, err) == (0, "")
    assert json.loads(out) == {"decisions": [], "replans": 1}
    assert query(db_path, "SELECT count(*) FROM decision") == [(0,)]
    check_database(db_path)


def test_a_write_waits_past_the_busy_timeout_instead_of_failing(home_engine, db_path, reaper):
    """A writer holds the lock longer than SQLite's busy timeout: BEGIN IMMEDIATE is retried (up to
    LOCK_WAIT_S), so the enqueue waits and succeeds where it used to fail with "database is locked"."""
    add_appliances(home_engine, 1)
    clock = ["--t0", T0.isoformat(), "--wall0", repr(time.time()), "--speed", "1"]
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        enqueue = worker(reaper, "enqueue", f"sqlite:///{db_path}", "w0", "1", *clock)
        time.sleep(BUSY_TIMEOUT_MS / 1000 + 2)
        assert enqueue.poll() is None  # still waiting, not failed
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(finish(enqueue, timeout=60)["ids"]) == 1
