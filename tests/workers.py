"""Worker processes for the reliability tests: real processes that race, crash and collide.

Two ways in:

- `python -m tests.workers enqueue|ticks ...` (a subprocess, a fresh interpreter like a CLI call),
  used by `test_concurrency.py`; each prints one JSON line of figures on stdout and nothing on
  stderr unless something went wrong;
- the functions `tick_until_killed` and `tick_at_barrier`, targets for a multiprocessing
  "forkserver" context (a fresh process forked from a server that imported wattplan once, so 100+
  processes start in milliseconds), used by `test_crash.py` and `test_concurrency.py`.

`check_database` is the shared verdict on a database file: it reads it with the standard library's
`sqlite3` only, independently of the code under test.

Each worker uses `reconcile` the way the CLI does: a new engine per command, one transaction per
command, and `ReconcileError` turned into one line and exit status 1.
"""

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from reconcile.errors import ReconcileError
from reconcile.shell import requests
from reconcile.shell.db import make_engine, require_head, transaction, translate_errors
from reconcile.shell.store import last_tick_now, load_home
from reconcile.shell.tick import run_tick


class Reaper:
    """Every process a test starts is killed, with its whole process group, and waited for when the
    test ends, passed or failed (a timed-out `communicate` included): no worker outlives its test."""

    def __init__(self) -> None:
        self.popens: list[subprocess.Popen] = []
        self.children: list = []  # multiprocessing processes

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """`subprocess.Popen(argv)` in a new session: its process group is its own to kill."""
        process = subprocess.Popen(argv, start_new_session=True, **kwargs)
        self.popens.append(process)
        return process

    def process(self, context, **kwargs):
        """A multiprocessing `context.Process(**kwargs)`, not started."""
        child = context.Process(**kwargs)
        self.children.append(child)
        return child

    def reap(self) -> None:
        for process in self.popens:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the group outlives its leader's exit
            except ProcessLookupError:
                pass
        for process in self.popens:
            process.wait(timeout=30)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        for child in self.children:
            if child.pid is not None and child.exitcode is None:
                child.kill()
            if child.pid is not None:
                child.join(timeout=30)


def virtual_now(t0: datetime, wall0: float, speed: float) -> datetime:
    """The shared virtual clock: `t0` at wall time `wall0`, running `speed` times faster."""
    return t0 + timedelta(seconds=(time.time() - wall0) * speed)


def enqueue_once(engine, appliance: str, now: datetime) -> int:
    """One enqueue as the CLI makes it: the head check, then one write transaction."""
    require_head(engine)

    def work() -> int:
        with transaction(engine) as session:
            return requests.enqueue(session, now=now, request=requests.Request(appliance=appliance)).id

    return translate_errors(work)


def enqueue_loop(url: str, appliances: list[str], count: int, t0: datetime, wall0: float, speed: float,
                 fresh_every: int = 1) -> dict:
    """`count` enqueues, one transaction each, at the virtual clock's now, taking `appliances` in turn.

    Every `fresh_every`-th opens a new engine and connection as a CLI process does; the others
    reuse one, as a long-lived client would (faster, so the race is denser).
    """
    ids, labels, latencies = [], [], []
    last, engine = t0, None
    for n in range(count):
        # requested_at strictly increases within a process, and no two processes share an appliance:
        # (appliance, requested_at) labels each request.
        appliance = appliances[n % len(appliances)]
        now = max(virtual_now(t0, wall0, speed), last + timedelta(microseconds=1))
        started = time.perf_counter()
        if n % fresh_every == 0:
            if engine is not None:
                engine.dispose()
            engine = make_engine(url)
        ids.append(enqueue_once(engine, appliance, now))
        latencies.append(time.perf_counter() - started)
        labels.append((appliance, now.isoformat()))
        last = now
    engine.dispose()
    latencies.sort()
    return {"ids": ids, "labels": labels,
            "max_latency_ms": round(latencies[-1] * 1000, 1),
            "p99_latency_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "median_latency_ms": round(latencies[len(latencies) // 2] * 1000, 1)}


def tick_loop(url: str, stop_file: str, t0: datetime, wall0: float, speed: float, pause_s: float) -> dict:
    """Ticks at the virtual clock's now until `stop_file` exists, `pause_s` apart (a new engine each)."""
    ticks = decisions = replans = most_runs = 0
    slowest = longest_lock = 0.0
    while not os.path.exists(stop_file):
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            report = run_tick(engine=engine, now=virtual_now(t0, wall0, speed))
            slowest = max(slowest, time.perf_counter() - started)
        finally:
            engine.dispose()
        ticks += 1
        decisions += len(report.plan.decisions)
        replans += report.replans
        most_runs = max(most_runs, len(report.plan.placements) + len(report.plan.unplaced))
        longest_lock = max(longest_lock, report.lock_ms)
        time.sleep(pause_s)
    return {"ticks": ticks, "decisions": decisions, "slowest_tick_ms": round(slowest * 1000, 1),
            "longest_lock_ms": round(longest_lock, 1), "replans": replans, "most_runs_planned": most_runs}


# --- forkserver targets ----------------------------------------------------------------------


def tick_until_killed(url: str, step_s: int, started, committed, ready) -> None:
    """Tick forever, `step_s` of virtual time apart, counting ticks begun and returned; never returns.

    `started`/`committed` are shared integers: when the parent kills this process, `started >
    committed` means the kill landed inside `run_tick` (its transaction open or committing).
    """
    engine = make_engine(url)
    with transaction(engine) as session:
        now = last_tick_now(session, load_home(session).id)
    ready.set()
    while True:
        now += timedelta(seconds=step_s)
        started.value += 1
        run_tick(engine=engine, now=now)
        committed.value += 1


def tick_at_barrier(url: str, now_iso: str, barrier, results) -> None:
    """Wait at `barrier` with the other ticker, then tick at `now`; report what this tick did."""
    engine = make_engine(url)
    require_head(engine)  # warm up: the race is on the tick's transaction, not on imports
    barrier.wait(timeout=10)
    try:
        report = run_tick(engine=engine, now=datetime.fromisoformat(now_iso))
        results.put(("ok", report.tick_id, [(d.execution_id, d.kind) for d in report.plan.decisions]))
    except ReconcileError as error:
        results.put(("error", str(error), []))
    finally:
        engine.dispose()


def cancel_at_barrier(url: str, now_iso: str, execution_id: int, barrier, results) -> None:
    """Wait at `barrier` with a ticker, then cancel `execution_id` at `now`; report the outcome."""
    engine = make_engine(url)
    require_head(engine)
    barrier.wait(timeout=10)
    try:
        with transaction(engine) as session:
            change = requests.end(session, now=datetime.fromisoformat(now_iso), execution_id=execution_id,
                                  reason="cancelled")
        results.put(("ok", "cancel", change.state))
    except ReconcileError as error:
        results.put(("error", "cancel", str(error)))
    finally:
        engine.dispose()


# --- the verdict on a database ---------------------------------------------------------------


def is_postgres(target) -> bool:
    return isinstance(target, str) and target.startswith("postgresql")


def _connect(target):
    """A read connection to a SQLite file (the standard library's sqlite3, read-only) or to a
    PostgreSQL URL (psycopg itself): never through the code under test."""
    if is_postgres(target):
        import psycopg

        return psycopg.connect(target.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    return sqlite3.connect(f"file:{target}?mode=ro", uri=True)


def query(target, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of `sql` (`?` placeholders) on the database file or PostgreSQL URL, then closed."""
    connection = _connect(target)
    try:
        if is_postgres(target):
            sql = sql.replace("?", "%s")
        return [tuple(row) for row in connection.execute(sql, params).fetchall()]
    finally:
        connection.close()


def check_database(target) -> dict:
    """Raise AssertionError unless the database (a SQLite file, or a PostgreSQL URL) is intact and
    holds only whole ticks; returns counts.

    Whole tick: its `decisions` count equals its decision rows, its duration was written (the last
    thing a tick sets), the timetable holds only the newest tick's entries, one execution per
    planned run, and every open execution's state agrees with the newest decision about it.
    No execution was ever started twice.
    """
    connection = _connect(target)
    try:
        def q(sql: str, params: tuple = ()):
            return connection.execute(sql.replace("?", "%s") if is_postgres(target) else sql, params)

        if not is_postgres(target):  # PostgreSQL checks pages and keys itself, on every write
            assert q("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert q("PRAGMA foreign_key_check").fetchall() == []
        torn = q("""SELECT t.id, t.decisions, count(d.id) FROM tick t LEFT JOIN decision d ON d.tick_id = t.id
                    GROUP BY t.id HAVING t.decisions != count(d.id) OR t.duration_ms <= 0""").fetchall()
        assert torn == [], f"partial ticks (id, decisions column, decision rows): {torn}"
        newest = q("SELECT id, planned FROM tick ORDER BY id DESC LIMIT 1").fetchone()
        if newest is not None:
            stale = q("SELECT count(*) FROM timetableentry WHERE tick_id != ?", (newest[0],)).fetchone()[0]
            assert stale == 0, f"{stale} timetable entries of an older tick than #{newest[0]}"
            planned = q("SELECT count(DISTINCT execution_id) FROM timetableentry").fetchone()[0]
            assert planned == newest[1], f"tick #{newest[0]} planned {newest[1]}, timetable has {planned}"
        twice = q("""SELECT execution_id, count(*) FROM decision WHERE kind = 'start'
                     GROUP BY execution_id HAVING count(*) > 1""").fetchall()
        assert twice == [], f"executions started more than once: {twice}"
        disagree = q("""SELECT e.id, e.state, (SELECT kind FROM decision d WHERE d.execution_id = e.id
                                               ORDER BY d.id DESC LIMIT 1) AS last
                        FROM execution e WHERE e.state IN ('pending', 'running', 'paused')""").fetchall()
        expected = {"pending": (None,), "running": ("start", "resume"), "paused": ("pause",)}
        bad = [row for row in disagree if row[2] not in expected[row[1]]]
        assert bad == [], f"execution state disagrees with its newest decision: {bad[:5]}"
        negative = q("""SELECT id FROM execution WHERE progress_s < 0 OR ended_at < started_at
                        OR state_since < requested_at""").fetchall()
        assert negative == [], f"negative durations: {negative[:5]}"
        counts = {table: q(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in ("tick", "decision", "execution", "timetableentry")}
        counts["starts"] = q("SELECT count(*) FROM decision WHERE kind = 'start'").fetchone()[0]
        return counts
    finally:
        connection.close()


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.workers")
    sub = parser.add_subparsers(dest="command", required=True)
    enqueue = sub.add_parser("enqueue", help="enqueue COUNT runs of APPLIANCES in turn, one transaction each")
    enqueue.add_argument("url")
    enqueue.add_argument("appliances", help="comma-separated appliance names")
    enqueue.add_argument("count", type=int)
    enqueue.add_argument("--fresh-every", type=int, default=1, help="a new engine every Nth enqueue")
    ticks = sub.add_parser("ticks", help="tick until STOP_FILE exists")
    ticks.add_argument("url")
    ticks.add_argument("stop_file")
    ticks.add_argument("--pause", type=float, default=0.05)
    for command in (enqueue, ticks):
        command.add_argument("--t0", required=True, help="virtual time at --wall0 (ISO 8601)")
        command.add_argument("--wall0", type=float, required=True, help="wall clock (time.time()) of --t0")
        command.add_argument("--speed", type=float, default=60.0, help="virtual seconds per wall second")
    args = parser.parse_args(argv)
    t0 = datetime.fromisoformat(args.t0).astimezone(UTC)
    try:
        if args.command == "enqueue":
            names = args.appliances.split(",")
            result = enqueue_loop(args.url, names, args.count, t0, args.wall0, args.speed, args.fresh_every)
        else:
            result = tick_loop(args.url, args.stop_file, t0, args.wall0, args.speed, args.pause)
    except ReconcileError as error:
        print(f"error: {error}", file=sys.stderr)
        return int(error.status)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
