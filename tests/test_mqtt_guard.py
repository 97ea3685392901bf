"""The meter over MQTT corrects the plan, and `wattplan guard` pauses a run when import stays above
the limit, on fresh evidence only (silence pauses nothing), writing its pause as a decision: a real
Mosquitto broker and real `wattplan` processes. The guard's reaction time is printed (run with -s)
for BENCHMARKS.md; it is never asserted."""

import json
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from reconcile.adapters.mqtt.guard import Evidence
from reconcile.errors import ExitStatus
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
    assert decisions(db) == [("start", "tick"), ("pause", "guard: import above 4600 W for 2s")]
    assert guard.poll() is None  # still watching
    later = datetime.now(UTC).replace(microsecond=0)
    meter.publish(METER, reading(300, later), retain=True)  # the spike is over: the tick resumes it
    wattplan(db, "tick", "--now", later.isoformat())
    assert [kind for kind, _ in decisions(db)] == ["start", "pause", "resume"]


def decisions(db) -> list[tuple[str, str]]:
    """(kind, who) of every decision, oldest first: who is the guard's reason, else "tick"."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT kind, reason FROM decision ORDER BY id").fetchall()
    return [(kind, reason if reason.startswith("guard") else "tick") for kind, reason in rows]


def start_guard(reaper, db, grace: str):
    guard = reaper.popen([str(BIN), "--db", str(db), "guard", "--grace", grace], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    log = db.parent / "mosquitto" / "log"
    wait_for(lambda: log.exists() and "Received SUBSCRIBE from wattplan-" in log.read_text(errors="replace")
             and "-guard" in log.read_text(errors="replace"), what="the guard to subscribe")
    return guard


def running_heater(db, meter) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    meter.publish(METER, reading(300, now), retain=True)
    wattplan(db, "enqueue", "heater", "--now", now.isoformat())
    wattplan(db, "tick", "--now", now.isoformat())
    assert executions(db) == [(1, "running")]


def test_one_reading_above_the_limit_then_silence_pauses_nothing(metered_home, reaper) -> None:
    db, meter, _ = metered_home
    running_heater(db, meter)
    guard = start_guard(reaper, db, "1s")
    meter.publish(METER, json.dumps({"ENERGY": {"Power": 6500}}), qos=0)  # then the meter dies
    time.sleep(4)  # four graces of silence: the old guard paused at the first
    assert executions(db) == [(1, "running")] and guard.poll() is None
    stop = threading.Event()

    def spike() -> None:  # the control: live readings above the limit do pause it
        while not stop.is_set():
            meter.publish(METER, json.dumps({"ENERGY": {"Power": 6500}}), qos=0)
            stop.wait(0.2)

    spiking = threading.Thread(target=spike)
    spiking.start()
    try:
        wait_for(lambda: executions(db) == [(1, "paused")], timeout_s=60, what="the guard to pause the heater")
    finally:
        stop.set()
        spiking.join()


def test_the_guard_without_a_meter_topic_exits_1_in_one_line_and_is_not_restarted(metered_home) -> None:
    db, _, _ = metered_home
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE mqttsettings SET meter_topic = NULL")
    done = subprocess.run([str(BIN), "--db", str(db), "guard"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (ExitStatus.ERROR, (
        "error: the guard needs a meter: `wattplan mqtt set --meter-topic TOPIC`\n"))
    # wattplan-guard.service: RestartPreventExitStatus= holds 1 (tests/test_systemd_guard.py)


@pytest.mark.parametrize("command", ["guard", "listen"])
def test_a_300_character_host_is_one_line(metered_home, command) -> None:
    db, _, _ = metered_home
    with sqlite3.connect(db) as connection:  # stored as an older wattplan accepted it
        connection.execute("UPDATE mqttsettings SET broker = ?", (f"mqtt://{'h' * 300}.example:1883",))
    done = subprocess.run([str(BIN), "--db", str(db), command], capture_output=True, text=True, timeout=60)
    assert done.returncode == ExitStatus.ERROR, done.stderr
    errors = [line for line in done.stderr.splitlines() if not line.startswith(f"{command}: ")]
    assert len(errors) == 1 and errors[0].startswith("error: the MQTT broker's host name is not valid"), done.stderr


def test_silence_and_a_reconnect_are_no_evidence() -> None:
    seen = Evidence(limit_w=4600, grace_s=2)
    seen.reading(6500, now=0.0)
    assert not seen.overloaded(1.9) and not seen.overloaded(2.5)  # the only reading is older than the grace
    assert seen.above_since is None  # forgotten: a later reading starts a new grace
    seen.reading(6500, now=3.0)
    assert not seen.overloaded(4.0)
    seen.reading(6500, now=4.9)
    assert seen.overloaded(5.0)  # above since 3.0, newest 0.1 s old
    assert not seen.overloaded(5.1)  # re-armed: another full grace before the next pause
    seen.forget()  # a reconnect
    assert not seen.overloaded(5.2) and not seen.overloaded(100)
    seen.reading(6500, now=100.0)
    seen.reading(4000, now=101.0)  # one reading under the limit ends the streak
    seen.reading(6500, now=101.5)
    assert not seen.overloaded(102.5)
