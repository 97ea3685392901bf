"""What MQTT costs a tick, and what its check costs a tick without it.

Run: .venv/bin/python bench/mqtt_bench.py [--pairs 15]   (needs mosquitto for part 2)

1. In process: `commands.mqtt.any_mqtt`, the one query a tick without MQTT adds (median of 200,
   on the sample home's database, through the tick's own engine).
2. Whole process, paired: `wattplan tick` on the sample home without MQTT (A) and the same home with
   MQTT on a local Mosquitto (B), run as pairs A B A B … (median of the per-pair ratios B/A, wall and
   CPU). B connects, drains, acknowledges and publishes ~20 retained messages and discovery once.
"""

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reconcile.commands.mqtt import any_mqtt
from reconcile.shell.db import make_engine

BIN = Path(sys.executable).parent


def wattplan(db: Path, *args: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([BIN / "wattplan", "--db", str(db), *args], capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - started, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def sample(db: Path) -> None:
    wattplan(db, "init", "--sample")
    for appliance in ("washer", "dryer", "dishwasher", "ev"):
        wattplan(db, "enqueue", appliance, "--within", "12h", "--now", "2026-06-30T05:30:00+00:00")


def check_cost(db: Path) -> float:
    engine = make_engine(f"sqlite:///{db}")
    samples = []
    for _ in range(200):
        started = time.perf_counter()
        any_mqtt(engine)
        samples.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(samples) * 1000


def broker(directory: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = directory / "mosquitto.conf"
    user = "user root\n" if os.geteuid() == 0 else ""
    config.write_text(f"{user}listener {port} 127.0.0.1\nallow_anonymous true\n")
    process = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return process, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=15)
    pairs = parser.parse_args().pairs
    with tempfile.TemporaryDirectory() as tmp:
        plain, mqtt = Path(tmp) / "plain.db", Path(tmp) / "mqtt.db"
        sample(plain)
        sample(mqtt)
        print(f"1. the MQTT check in a tick without MQTT: {check_cost(plain):.3f} ms (median of 200)")
        process, port = broker(Path(tmp))
        try:
            wattplan(mqtt, "mqtt", "set", "--broker", f"mqtt://127.0.0.1:{port}")
            wall, cpu = [], []
            for i in range(pairs):
                now = f"2026-06-30T{6 + i // 60:02d}:{i % 60:02d}:00+00:00"
                a, b = wattplan(plain, "tick", "--now", now), wattplan(mqtt, "tick", "--now", now)
                wall.append(b[0] / a[0])
                cpu.append(b[1] / a[1])
        finally:
            process.kill()
            process.wait()
        print(f"2. {pairs} pairs, tick with MQTT / without: median {statistics.median(wall):.2f}x wall, "
              f"{statistics.median(cpu):.2f}x CPU")


if __name__ == "__main__":
    main()
