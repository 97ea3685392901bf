"""The tick talks to a real Mosquitto broker: Home Assistant end to end, nothing lost when a tick is
killed between receiving and committing, an id never applied twice, bad commands rejected, the
broker down. Every `wattplan` here is a real process; time is `--now`."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.mqtt_broker import Listener, broker, wait_for  # noqa: F401  (broker: a fixture)

BIN = Path(sys.executable).parent / "wattplan"
T = "2026-12-01T10:{:02d}:00Z"
# Keys Home Assistant documents for MQTT discovery (integrations/mqtt, binary_sensor, sensor, button).
COMMON = {"name", "unique_id", "device", "origin", "availability_topic", "payload_available",
          "payload_not_available", "json_attributes_topic", "qos", "expire_after", "device_class"}
DOCUMENTED = {
    "binary_sensor": COMMON | {"state_topic", "value_template", "payload_on", "payload_off"},
    "sensor": COMMON | {"state_topic", "value_template", "unit_of_measurement", "state_class"},
    "button": COMMON | {"command_topic", "payload_press", "retain"},
}
DEVICE_KEYS = {"identifiers", "name", "manufacturer", "model", "via_device"}
DEVICE_CLASSES = {"binary_sensor": {"power"}, "sensor": {"power", "timestamp"}, "button": set()}


def wattplan(db: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN), "--db", str(db), *args], capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def home(tmp_path, broker):  # noqa: F811
    db = tmp_path / "w.db"
    wattplan(db, "init", "--limit", "4.6kW", "--timezone", "Europe/Berlin")
    wattplan(db, "appliance", "add", "washer")
    wattplan(db, "profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h")
    wattplan(db, "profile", "add", "washer", "quick", "--power", "2.5kW", "--duration", "30m")
    wattplan(db, "mqtt", "set", "--broker", broker.url)
    wattplan(db, "tick", "--now", T.format(0))  # the first tick creates the broker session
    listener = Listener(broker.port, "wattplan/#", "homeassistant/#")
    yield db, listener
    listener.close()


def executions(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT id, state FROM execution ORDER BY id").fetchall()


def test_home_assistant_requests_a_run_sees_it_run_and_reports_it_done(home) -> None:
    db, ha = home
    configs = wait_for(lambda: {t: json.loads(p) for t, p in dict(ha.messages).items()
                                if t.startswith("homeassistant/") and t.endswith("/config")} or None,
                       what="discovery configs")
    wait_for(lambda: len([t for t in ha.messages if t.endswith("/config")]) >= 12, what="every config")
    configs = {t: json.loads(ha.get(t)) for t in list(ha.messages) if t.endswith("/config")}
    for topic, config in configs.items():
        platform = topic.split("/")[1]
        assert set(config) <= DOCUMENTED[platform], (topic, set(config) - DOCUMENTED[platform])
        assert set(config["device"]) <= DEVICE_KEYS
        assert config.get("device_class", "power") in DEVICE_CLASSES[platform] | {"power"}
        assert config["availability_topic"] == "wattplan/status"
    buttons = {c["name"]: c for t, c in configs.items() if t.split("/")[1] == "button"}
    assert {"Request eco", "Request quick", "Cancel", "Done"} <= set(buttons)
    assert ha.get("wattplan/status") == b"online"
    assert ha.json("wattplan/washer/state")["should_run"] is False

    press = buttons["Request eco"]
    ha.publish(press["command_topic"], press["payload_press"], qos=press["qos"])  # no tick is connected now
    wattplan(db, "tick", "--now", T.format(1))
    state = wait_for(lambda: (ha.json("wattplan/washer/state") or {}).get("should_run") and
                     ha.json("wattplan/washer/state"), what="should_run to turn true")
    assert state["execution_id"] == 1 and state["power_w"] == 2000.0 and state["status"] == "running"
    assert executions(db) == [(1, "running")]

    done = buttons["Done"]
    ha.publish(done["command_topic"], done["payload_press"], qos=done["qos"])
    wattplan(db, "tick", "--now", T.format(2))
    wait_for(lambda: ha.json("wattplan/washer/state")["should_run"] is False, what="should_run to turn false")
    assert executions(db) == [(1, "finished")]
    site = ha.json("wattplan/site")
    assert site["limit_w"] == 4600.0 and site["last_tick"] == "2026-12-01T10:02:00+00:00"


def test_a_tick_killed_between_receiving_and_committing_loses_nothing(home, reaper) -> None:
    db, ha = home
    ha.publish("wattplan/washer/request/set", json.dumps({"program": "eco", "within": "6h", "id": "hass-1"}))
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the tick receives, then waits for the write lock
    tick = reaper.popen([str(BIN), "--db", str(db), "tick", "--now", T.format(1)],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = Path(db).parent / "mosquitto" / "log"
    wait_for(lambda: "wattplan/washer/request/set" in _sent(log), what="the broker to deliver the command")
    os.killpg(tick.pid, signal.SIGKILL)
    tick.wait(30)
    lock.execute("ROLLBACK")
    lock.close()
    assert executions(db) == []  # nothing committed
    wattplan(db, "tick", "--now", T.format(2))
    assert executions(db) == [(1, "running")]  # delivered again, applied once
    ha.publish("wattplan/washer/request/set", json.dumps({"program": "eco", "id": "hass-1"}))  # a repeat
    ticked = wattplan(db, "tick", "--now", T.format(3))
    assert "1 already applied" in ticked.stdout
    assert executions(db) == [(1, "running")]


def _sent(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


def test_bad_commands_are_rejected_listed_and_the_tick_goes_on(home) -> None:
    db, ha = home
    for topic, payload in (("wattplan/washer/request/set", "spin"), ("wattplan/washer/request/set", "{not json"),
                           ("wattplan/washer/request/set", json.dumps({"program": "eco", "within": "forever"})),
                           ("wattplan/washer/request/set", json.dumps({"program": "eco", "colour": "red"})),
                           ("wattplan/dryer/request/set", "eco"), ("wattplan/washer/done/set", ""),
                           ("wattplan/washer/request/set", b"\xff\xfe\x1b[31m")):
        ha.publish(topic, payload)
    ha.publish("wattplan/washer/request/set", "quick")
    ticked = wattplan(db, "tick", "--now", T.format(1))
    assert "1 applied, 7 rejected" in ticked.stdout and "Traceback" not in ticked.stderr
    assert executions(db) == [(1, "running")]
    rejected = json.loads(wattplan(db, "mqtt", "rejected", "--json").stdout)
    assert len(rejected) == 7
    reasons = " | ".join(r["reason"] for r in rejected)
    for said in ("unknown program 'spin'", "not valid JSON", "--within" if "--within" in reasons else "within",
                 "unknown key 'colour'", "no appliance 'dryer'", "has no started run", "not UTF-8"):
        assert said in reasons, said
    assert all("\x1b" not in r["payload"] for r in rejected)


def test_the_broker_down_the_tick_still_commits_and_the_next_publishes_everything(home, tmp_path) -> None:
    db, ha = home
    url = json.loads(wattplan(db, "mqtt", "show", "--json").stdout)["broker"]
    from tests.mqtt_broker import free_port

    wattplan(db, "mqtt", "set", "--broker", f"mqtt://127.0.0.1:{free_port()}")
    wattplan(db, "enqueue", "washer", "eco", "--now", T.format(1))
    down = wattplan(db, "tick", "--now", T.format(1), check=False)
    assert down.returncode == 6, down.stderr
    assert "broker down: cannot reach the MQTT broker" in down.stdout and down.stderr == ""
    assert executions(db) == [(1, "running")]  # planned and committed all the same
    wattplan(db, "mqtt", "set", "--broker", url)
    wattplan(db, "tick", "--now", T.format(2))
    wait_for(lambda: (ha.json("wattplan/washer/state") or {}).get("should_run"), what="the state to be published")


def test_the_will_says_offline_only_when_no_tick_reconnects_within_its_delay(home) -> None:
    from reconcile.adapters.mqtt import settings
    from reconcile.adapters.mqtt.client import Broker
    from reconcile.shell.db import make_engine

    db, ha = home
    engine = make_engine(f"sqlite:///{db}")
    with settings.reading(engine, None) as session:
        found = settings.load(session)
    engine.dispose()
    # The retained online reaches the listener after its SUBACK: wait for it, or the read races it.
    wait_for(lambda: ha.get("wattplan/status") == b"online", what="the retained online")
    # 15 s: the second tick connects within it even on a loaded machine (1 s is usual)
    Broker(found, None, will_delay_s=15).open().close()  # a tick, with a 15 s will delay
    Broker(found, None, will_delay_s=15).open().close()  # the next tick, within the delay: no offline
    time.sleep(2)  # an undelayed will would have arrived by now
    assert ha.get("wattplan/status") == b"online"
    wait_for(lambda: ha.get("wattplan/status") == b"offline", timeout_s=60, what="the delayed will")


def test_discovery_is_published_again_when_home_assistant_announces_itself(home) -> None:
    db, ha = home
    topic = wait_for(lambda: next((t for t in list(ha.messages) if t.endswith("/should_run/config")), None),
                     what="discovery")
    ha.publish(topic, b"", retain=True)  # the broker forgets it (as after losing its retained messages)
    wait_for(lambda: ha.get(topic) == b"", what="the config cleared")
    wattplan(db, "tick", "--now", T.format(1))
    assert ha.get(topic) == b""  # unchanged configs are not sent every minute
    ha.publish("homeassistant/status", b"online")  # Home Assistant's birth message, QoS 1
    wattplan(db, "tick", "--now", T.format(2))
    wait_for(lambda: (ha.get(topic) or b"").startswith(b"{"), what="discovery published again")


def test_a_json_request_with_a_window_is_planned_inside_it(home) -> None:
    db, ha = home
    ha.publish("wattplan/washer/request/set", json.dumps(
        {"program": "quick", "not_before": "13:00", "by": "15:00", "objective": "asap", "id": 7}))
    wattplan(db, "tick", "--now", T.format(1))  # 10:01 UTC is 11:01 in Berlin
    plan = wait_for(lambda: ha.json("wattplan/washer/plan"), what="the plan")
    assert plan[0]["planned_start"] == "2026-12-01T12:00:00+00:00"  # 13:00 Berlin
    assert plan[0]["planned_end"] == "2026-12-01T12:30:00+00:00"
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT command_id, status FROM mqttcommand").fetchall() == [("7", "applied")]


def test_an_unreadable_password_file_at_tick_time_still_plans_and_says_why(home, tmp_path) -> None:
    db, _ha = home
    secret = tmp_path / "password"
    secret.write_text("hunter2\n")
    wattplan(db, "mqtt", "set", "--password-file", str(secret))
    secret.unlink()
    wattplan(db, "enqueue", "washer", "eco", "--now", T.format(1))
    ticked = wattplan(db, "tick", "--now", T.format(1), check=False)
    assert ticked.returncode == 6 and ticked.stderr == ""
    assert f"broker down: cannot read the MQTT password file {secret}: No such file or directory" in ticked.stdout
    assert executions(db) == [(1, "running")]


def test_tick_all_talks_mqtt_for_the_homes_that_have_it(home) -> None:
    db, ha = home
    wattplan(db, "--home", "beach", "init", "--limit", "3kW", "--timezone", "Europe/Lisbon")
    ha.publish("wattplan/washer/request/set", "eco")
    ticked = wattplan(db, "tick", "--all")  # the wall clock: `tick --all --now` needs one home's timezone
    lines = sorted(ticked.stdout.splitlines())
    assert lines[0].startswith("beach: tick ") and "mqtt" not in lines[0]
    assert lines[1].startswith("home: tick ") and "mqtt: 1 applied" in lines[1]
    wait_for(lambda: (ha.json("wattplan/washer/state") or {}).get("should_run"), what="the home's state")
