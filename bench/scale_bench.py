"""Many homes on one PostgreSQL: home-ticks per second with 1, 2 and 4 `wattplan worker` processes.

    .venv/bin/python bench/scale_bench.py [--homes 2000] [--workers 1 2 4] [--slot 60] [--url URL]

HOMES homes like the sample home (4 appliances with real cycles, a day of PV, base-load and price
forecasts at 15 minutes), each with 1–3 runs requested over the last hours (a household asks for
3–5 runs a day; some are running, some wait), on one PostgreSQL server: a throw-away one started
as the tests start theirs (tests/postgres.py), or `--url`. For each worker count: every home is
made due (`ticked_at` NULL), W real `wattplan worker --every 1h` processes start, and the clock
runs until every home was ticked once. A first, unreported pass ticks every home once before (a
home's first tick starts its runs; the measured ticks are the steady minute-by-minute kind).
Reported: home-ticks per second (all workers, and per worker), the PostgreSQL server's share of
the machine's CPU over that time (its processes' CPU seconds from /proc), and the homes one
minute's cycle holds at that rate.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconcile.shell import requests  # noqa: E402
from reconcile.shell.db import make_engine, transaction  # noqa: E402
from reconcile.shell.migrate import upgrade  # noqa: E402
from reconcile.simulation.sample import load_into_db  # noqa: E402
from reconcile.simulation.scenario import builtin_scenario  # noqa: E402
from tests.workers import query  # noqa: E402

PROGRAMS = (("washer", "cotton"), ("dishwasher", "normal"), ("dryer", "cotton"), ("ev", "charge"))


def make_homes(url: str, count: int, now: datetime, slot_s: int = 60, seed: int = 1) -> None:
    """`count` sample homes (`slot_s` planning slots), 100 per transaction, each with 1–3 runs asked
    for in the last 3 hours."""
    engine, scenario, rng = make_engine(url), builtin_scenario("sample_day"), random.Random(seed)
    upgrade(engine)
    for first in range(0, count, 100):
        with transaction(engine) as session:
            for i in range(first, min(count, first + 100)):
                session.info["home"] = f"home{i:05d}"
                load_into_db(session, scenario, now, settings={"slot_s": slot_s})
                for appliance, program in rng.sample(PROGRAMS, rng.randint(1, 3)):
                    asked = now - timedelta(minutes=rng.randint(0, 180))
                    requests.enqueue(session, now=asked, request=requests.Request(appliance, program))
    engine.dispose()


def execute(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
        connection.execute(sql)


def postgres_cpu_s() -> float:
    """CPU seconds (user + system) of every running `postgres` process, from /proc."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if name.startswith("postgres"):
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def cycle(url: str, homes: int, workers: int) -> dict:
    """Every home due; `workers` real workers; until every home was ticked once more."""
    execute(url, "UPDATE home SET ticked_at = NULL")
    before = query(url, "SELECT count(*) FROM tick")[0][0]
    env = {**os.environ, "WATTPLAN_DB": url, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", "import cli; cli.main()", "worker", "--every", "1h"]
    cpu0, started = postgres_cpu_s(), time.perf_counter()
    procs = [subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(workers)]
    try:
        while query(url, "SELECT count(*) FROM tick")[0][0] - before < homes:
            time.sleep(0.2)
        wall = time.perf_counter() - started
        cpu = postgres_cpu_s() - cpu0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
    rate = homes / wall
    return {"workers": workers, "homes": homes, "wall_s": round(wall, 1), "home_ticks_per_s": round(rate, 1),
            "per_worker": round(rate / workers, 1), "postgres_cpu_share": round(cpu / (wall * os.cpu_count()), 2),
            "homes_per_minute": int(rate * 60)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homes", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--slot", type=int, default=60, help="the homes' planning slot in seconds (sample: 60)")
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a throw-away server)")
    args = parser.parse_args()
    server = None
    if args.url is None:
        from tests.postgres import PostgresServer, binaries

        server = PostgresServer(binaries()).start()
        args.url = server.create_database()
    try:
        started = time.perf_counter()
        make_homes(args.url, args.homes, datetime.now(UTC).replace(microsecond=0), args.slot)
        print(json.dumps({"setup_s": round(time.perf_counter() - started, 1), "cores": os.cpu_count()}))
        cycle(args.url, args.homes, max(args.workers))  # warm-up: every home's first tick (its runs start) is apart
        for workers in args.workers:
            print(json.dumps(cycle(args.url, args.homes, workers)), flush=True)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
