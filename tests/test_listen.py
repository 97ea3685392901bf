"""`wattplan listen` answers a pressed button in seconds, with no timer tick, and loses nothing when
killed: a real Mosquitto broker and real `wattplan` processes, SIGKILLed for real. The latency is
measured by bench/listen_latency.py (BENCHMARKS.md), never asserted here: the deadlines are generous."""

import json
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime

import pytest

from reconcile.adapters.mqtt.listen import Pacing
from tests.mqtt_broker import Listener, broker, wait_for  # noqa: F401  (broker: a fixture)
from tests.test_mqtt import BIN, wattplan

APPLIANCES = ("washer", "dryer", "dishwasher", "oven", "boiler")


@pytest.fixture
def listened_home(tmp_path, broker):  # noqa: F811
    db = tmp_path / "w.db"
    wattplan(db, "init", "--limit", "4.6kW", "--timezone", "Europe/Berlin")
    for name in APPLIANCES:
        wattplan(db, "appliance", "add", name)
        wattplan(db, "profile", "add", name, "eco", "--power", "2kW", "--duration", "1h")
    wattplan(db, "mqtt", "set", "--broker", broker.url)
    wattplan(db, "tick", "--now", datetime.now(UTC).isoformat())  # creates the tick's persistent session
    ha = Listener(broker.port, "wattplan/#")
    yield db, ha
    ha.close()


def start_listener(reaper, db):
    """A `wattplan listen`, once the broker has its subscription (the broker's log says so)."""
    log = db.parent / "mosquitto" / "log"
    before = log.read_text(errors="replace").count("-listen")
    process = reaper.popen([str(BIN), "--db", str(db), "listen"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    wait_for(lambda: log.read_text(errors="replace").count("-listen") >= before + 2  # CONNECT and SUBSCRIBE
             and "Received SUBSCRIBE from wattplan-" in log.read_text(errors="replace"), timeout_s=60,
             what="the listener to subscribe")
    return process


def should_run(ha, name: str) -> bool | None:
    state = ha.json(f"wattplan/{name}/state")
    return None if state is None else state["should_run"]


def runs(db) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT appliance.name, count(*) FROM execution JOIN appliance ON "
                                  "appliance.id = execution.appliance_id GROUP BY appliance.name "
                                  "ORDER BY appliance.name").fetchall()


def test_a_pressed_button_runs_the_appliance_without_a_timer_tick(listened_home, reaper) -> None:
    db, ha = listened_home
    listener = start_listener(reaper, db)
    wait_for(lambda: ha.get("wattplan/washer/state"), what="the washer's state")
    assert should_run(ha, "washer") is False
    pressed = time.monotonic()
    ha.publish("wattplan/washer/request/set", "eco", qos=1, retain=False)  # Home Assistant's button press
    wait_for(lambda: should_run(ha, "washer"), timeout_s=30, what="should_run true without a timer tick")
    print(f"\npress to should_run: {time.monotonic() - pressed:.2f}s")
    assert runs(db) == [("washer", 1)] and listener.poll() is None
    listener.send_signal(signal.SIGTERM)
    assert listener.wait(30) == 0  # a clean stop


def test_a_listener_killed_mid_burst_loses_nothing_and_applies_each_command_once(listened_home, reaper) -> None:
    db, ha = listened_home
    listener = start_listener(reaper, db)
    for name in APPLIANCES[:3]:
        ha.publish(f"wattplan/{name}/request/set", json.dumps({"program": "eco", "id": f"press-{name}"}), qos=1)
    time.sleep(0.3)  # the debounce is over: its tick is starting, or running
    listener.kill()
    listener.wait(30)
    for name in APPLIANCES[3:]:  # pressed while no listener runs: they wait in the tick's session
        ha.publish(f"wattplan/{name}/request/set", json.dumps({"program": "eco", "id": f"press-{name}"}), qos=1)
    start_listener(reaper, db)  # its first tick, at connect, applies what was queued
    wait_for(lambda: len(runs(db)) == len(APPLIANCES), timeout_s=60, what="every press applied")
    wattplan(db, "tick", "--now", datetime.now(UTC).isoformat())  # the timer's tick finds nothing new
    assert runs(db) == sorted((name, 1) for name in APPLIANCES)
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT status, count(*) FROM mqttcommand GROUP BY status").fetchall() == [
            ("applied", len(APPLIANCES))]


def test_a_burst_is_one_tick_and_ticks_are_a_second_apart() -> None:
    pacing = Pacing(debounce_s=0.2, min_gap_s=1.0)
    assert not pacing.ready(0.0)  # nothing asked: never a tick of its own
    pacing.woken(10.0)
    pacing.woken(10.1)  # the rest of the burst joins the first message's tick
    assert not pacing.ready(10.19) and pacing.ready(10.2)
    pacing.ticked(10.5)
    pacing.woken(10.6)  # a press right after a tick waits for the gap
    assert not pacing.ready(11.4) and pacing.ready(11.5)
    pacing.ticked(12.0)
    pacing.woken(20.0)  # long after: only the debounce
    assert pacing.ready(20.2)
