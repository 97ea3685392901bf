"""The meter over MQTT corrects the plan, and `wattplan guard` pauses a run when import stays above
the limit: a real Mosquitto broker and real `wattplan` processes. The guard's reaction time is
printed (run with -s) for docs/home-assistant.md; it is never asserted."""

import json
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.mqtt_broker import Listener, broker, wait_for  # noqa: F401  (broker: a fixture)
from tests.test_mqtt import BIN, executions, wattplan

METER = "home/grid/power"


@pytest.fixture
def metered_home(tmp_path, broker):  # noqa: F811
    db = tmp_path / "w.db"
    wattplan(db, "init", "--limit", "4.6kW", "--timezone", "Europe/Berlin")
    wattplan(db, "appliance", "add", "heater", "--interruptible", "--priority-class", "2")
    wattplan(db, "profile", "add", "heater", "hot", "--power", "2kW", "--duration", "2h")
    wattplan(db, "appliance", "add", "washer")
    wattplan(db, "profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h")
    wattplan(db, "appliance", "set", "heater", "--relay", "tasmota:heaterplug")
    wattplan(db, "mqtt", "set", "--broker", broker.url, "--meter-topic", METER, "--meter-key", "ENERGY.Power",
             "--meter-max-age", "60s")
    meter = Listener(broker.port, "wattplan/#", "cmnd/#")
    yield db, meter, broker
    meter.close()


def reading(watts: float, at: datetime) -> str:
    return json.dumps({"Time": at.astimezone(UTC).isoformat(), "ENERGY": {"Power": watts}})


def test_the_measured_import_decides_what_starts_now(metered_home) -> None:
    db, meter, _ = metered_home
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    wattplan(db, "enqueue", "washer", "--now", now.isoformat())
    meter.publish(METER, reading(4000, now), retain=True)  # 600 W left under the limit
    ticked = wattplan(db, "tick", "--now", now.isoformat())
    assert "0 applied" in ticked.stdout and executions(db) == [(1, "pending")]
    site = wait_for(lambda: meter.json("wattplan/site"), what="the site")
    assert site["import_w"] == 4000 and site["import_fresh"] and site["capacity_now_w"] == 600
    later = now + timedelta(minutes=1)
    meter.publish(METER, reading(300, later), retain=True)
    wattplan(db, "tick", "--now", later.isoformat())
    assert executions(db) == [(1, "running")]
    assert "meter: 300 W import, 0s old, fresh" in wattplan(db, "status", "--now", later.isoformat()).stdout
    stale = later + timedelta(minutes=5)  # the last reading is 5 minutes old: unknown
    wattplan(db, "enqueue", "heater", "--now", stale.isoformat())
    wattplan(db, "tick", "--now", stale.isoformat())
    assert executions(db) == [(1, "running"), (2, "pending")]
    assert "meter: 300 W import, 300s old, stale (over 60s): nothing new starts" in wattplan(
        db, "status", "--now", stale.isoformat()).stdout
    shown = json.loads(wattplan(db, "mqtt", "show", "--json").stdout)
    assert shown["meter_w"] == 300.0 and shown["meter_at"].startswith("2026-12-01T10:01:00")
    meter.publish(METER, b"\xff garbage", retain=True)  # a broken meter: said on the line, the reading kept
    ticked = wattplan(db, "tick", "--now", (stale + timedelta(minutes=1)).isoformat())
    assert "meter: the meter payload is neither a number nor JSON" in ticked.stdout
    assert json.loads(wattplan(db, "mqtt", "show", "--json").stdout)["meter_w"] == 300.0


def test_the_guard_pauses_the_lowest_priority_pausable_run_when_import_stays_high(metered_home, reaper) -> None:
    db, meter, _ = metered_home
    now = datetime.now(UTC).replace(microsecond=0)  # the guard acts at the wall clock
    meter.publish(METER, reading(300, now), retain=True)
    wattplan(db, "enqueue", "heater", "--now", now.isoformat())
    wattplan(db, "tick", "--now", now.isoformat())
    assert executions(db) == [(1, "running")]
    wait_for(lambda: meter.get("cmnd/heaterplug/POWER") == b"ON", what="the relay switched on")
    guard = reaper.popen([str(BIN), "--db", str(db), "guard", "--grace", "2s"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    log = db.parent / "mosquitto" / "log"
    wait_for(lambda: log.exists() and "-guard" in log.read_text(errors="replace") and
             "Received SUBSCRIBE from wattplan-" in log.read_text(errors="replace"), what="the guard to subscribe")
    stop, first = threading.Event(), []

    def spike() -> None:  # a kettle and an oven on top of the heater, read every 200 ms
        while not stop.is_set():
            meter.publish(METER, json.dumps({"ENERGY": {"Power": 6500}}), qos=0)
            first.append(first[0] if first else time.monotonic())
            stop.wait(0.2)

    spiking = threading.Thread(target=spike)
    spiking.start()
    try:
        wait_for(lambda: executions(db) == [(1, "paused")], timeout_s=60, what="the guard to pause the heater")
        reaction = time.monotonic() - first[0]
    finally:
        stop.set()
        spiking.join()
    wait_for(lambda: meter.get("cmnd/heaterplug/POWER") == b"OFF", what="the relay switched off")
    assert meter.json("wattplan/heater/state")["should_run"] is False
    print(f"\nguard reaction: {reaction:.2f}s from the first reading above the limit to the pause (grace 2s)")
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM decision WHERE kind = 'pause'").fetchone() == (0,)
    assert guard.poll() is None  # still watching
