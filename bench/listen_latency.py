"""Press to `should_run`: how long a Home Assistant button press waits with `wattplan listen` running.

Run: .venv/bin/python bench/listen_latency.py [--presses 20]   (needs mosquitto)

A throwaway home (one washer, 2 kW under a 4.6 kW limit: power is free) on a local Mosquitto, one
real `wattplan listen` process and NO timer tick. Each press publishes the washer's request as HA's
button does (QoS 1, not retained) and times until the retained `wattplan/washer/state` says
`should_run: true`; then the run is cancelled the same way (and its `false` awaited) before the
next press, 3 s later. Prints every latency, the median and the worst.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho

BIN = Path(sys.executable).parent / "wattplan"
STATE = "wattplan/washer/state"


def wattplan(db: Path, *args: str) -> None:
    subprocess.run([BIN, "--db", str(db), *args], capture_output=True, text=True, check=True)


def broker(directory: Path) -> tuple[subprocess.Popen, int]:
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


class HomeAssistant:
    """Presses buttons and waits for the retained state to say what it should."""

    def __init__(self, port: int) -> None:
        self.changed = threading.Condition()
        self.should_run: bool | None = None
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-ha")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(STATE, qos=1)
        self.client.loop_start()

    def _on_message(self, _client, _userdata, msg) -> None:
        with self.changed:
            self.should_run = json.loads(msg.payload)["should_run"]
            self.changed.notify_all()

    def press(self, action: str, payload: str, wanted: bool, timeout_s: float = 60) -> float:
        started = time.perf_counter()
        self.client.publish(f"wattplan/washer/{action}/set", payload, qos=1).wait_for_publish(10)
        with self.changed:
            if not self.changed.wait_for(lambda: self.should_run is wanted, timeout_s):
                raise SystemExit(f"no should_run {wanted} within {timeout_s}s")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presses", type=int, default=20)
    presses = parser.parse_args().presses
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "w.db"
        process, port = broker(Path(tmp))
        listener = None
        try:
            wattplan(db, "init", "--limit", "4.6kW", "--timezone", "Europe/Berlin")
            wattplan(db, "appliance", "add", "washer")
            wattplan(db, "profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h")
            wattplan(db, "mqtt", "set", "--broker", f"mqtt://127.0.0.1:{port}")
            wattplan(db, "tick", "--now", datetime.now(UTC).isoformat())  # the tick's session exists
            ha = HomeAssistant(port)
            listener = subprocess.Popen([BIN, "--db", str(db), "listen"], stderr=subprocess.DEVNULL)
            time.sleep(5)  # connected, subscribed, its first tick done
            latencies = []
            for press in range(presses):
                latencies.append(ha.press("request", "eco", True))
                ha.press("cancel", "{}", False)
                print(f"press {press + 1}: {latencies[-1]:.2f}s", flush=True)
                time.sleep(3)
            print(f"{presses} presses: median {statistics.median(latencies):.2f}s, worst {max(latencies):.2f}s, "
                  f"best {min(latencies):.2f}s; load average {os.getloadavg()[0]:.1f}")
        finally:
            if listener is not None:
                listener.terminate()
                listener.wait(30)
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
