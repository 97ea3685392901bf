"""What a tick does with each received MQTT byte: the Inbox driven with `Message` values inside a
real `run_tick` on a real SQLite file (made with the CLI), and, at the end, through a real
Mosquitto with real `wattplan tick` processes. Every measured poison message of issues 18 and 19
is a case here: it stopped every tick on c6b7e5b, or hit the wrong run."""

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconcile.adapters.mqtt import settings as mqtt_settings
from reconcile.adapters.mqtt.inbox import Inbox
from reconcile.adapters.mqtt.topics import Message
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.tick import run_tick
from tests.cli_home import rows, wattplan
from tests.mqtt_broker import Listener, broker  # noqa: F401  (broker: a fixture)

BIN = Path(sys.executable).parent / "wattplan"

NOW = datetime(2026, 6, 30, 6, 0, tzinfo=UTC)  # 08:00 in Berlin
MIN = timedelta(minutes=1)
REQUEST, CANCEL, DONE = "wattplan/{}/request/set", "wattplan/{}/cancel/set", "wattplan/{}/done/set"


@pytest.fixture
def house(home):
    """The CLI's 4.6 kW Berlin home with a washer, a dishwasher, a 3.7 kW EV charger and MQTT
    (a broker nobody listens on: these tests hand the inbox its messages)."""
    wattplan("appliance", "add", "washer")
    wattplan("profile", "add", "washer", "eco", "--power", "1kW", "--duration", "1h")
    wattplan("appliance", "add", "dishwasher")
    wattplan("profile", "add", "dishwasher", "eco", "--power", "1kW", "--duration", "1h")
    wattplan("appliance", "add", "ev", "--min-power", "1.4kW", "--max-power", "3.7kW")
    wattplan("mqtt", "set", "--broker", "mqtt://127.0.0.1:1")
    return home


@pytest.fixture
def metered(house):
    """The house with a meter (without a fresh reading nothing new starts: the meter tests only)."""
    wattplan("mqtt", "set", "--meter-topic", "meter/house")
    return house


def tick(db, *commands: tuple[str, str | bytes], meter: Message | None = None, now: datetime = NOW) -> Inbox:
    """One real tick at `now` whose inbox received `commands` (topic, payload) and `meter`."""
    engine = make_engine(f"sqlite:///{db}")
    try:
        with transaction(engine) as session:
            inbox = Inbox(mqtt_settings.load(session))
        inbox.commands = [Message(topic, payload if isinstance(payload, bytes) else payload.encode(), mid, 1)
                          for mid, (topic, payload) in enumerate(commands, 1)]
        inbox.meter = meter
        run_tick(engine=engine, now=now, before_plan=inbox)
        return inbox
    finally:
        engine.dispose()


def commands(db) -> list[tuple]:
    return rows(db, "SELECT topic, status, reason, execution_id FROM mqttcommand ORDER BY id")


def runs(db) -> list[tuple]:
    return rows(db, "SELECT e.id, a.name, e.state FROM execution e JOIN appliance a ON a.id = e.appliance_id "
                    "ORDER BY e.id")


def meter(payload, *, retain: bool = True) -> Message:
    return Message("meter/house", payload if isinstance(payload, bytes) else json.dumps(payload).encode(), 1, 0,
                   retain)


# --- one message never stops a tick ---------------------------------------------------------------

def test_a_request_nested_2000_deep_is_rejected_and_the_next_command_still_applied(house) -> None:
    poison = '{"program":' + "[" * 2000 + "]" * 2000 + "}"
    assert len(poison.encode()) <= 4096
    inbox = tick(house, (REQUEST.format("washer"), poison), (REQUEST.format("dishwasher"), "eco"))
    assert inbox.applied == 1 and len(inbox.rejected) == 1
    (topic, status, reason, _), applied = commands(house)
    assert (topic, status) == ("wattplan/washer/request/set", "rejected") and "nests deeper than" in reason
    assert applied[1] == "applied" and runs(house) == [(1, "dishwasher", "running")]


@pytest.mark.parametrize("payload", [
    b"[" * 3000 + b"]" * 3000,
    b'{"power": 5, "x": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    b'{"power": 1e999999}', b'{"power": ' + b"9" * 5000 + b"}", b'{"power": NaN}', b'{"power": true}',
    b"9" * 5000, b"inf", b"\xff\xfe", b'{"power": 5, "time": {"a": [1, 2]}}',
])
def test_a_poison_meter_payload_is_a_meter_problem_and_the_last_reading_stands(metered, payload) -> None:
    first = tick(metered, meter=meter({"power": 500}))
    assert first.reading.import_w == 500 and first.reading.at == NOW
    later = tick(metered, meter=meter(payload), now=NOW + MIN)
    assert later.meter_problem and "meter:" in later.summary()
    assert (later.reading.import_w, later.reading.at) == (500, NOW)  # the old reading, ageing


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00", "0001-01-01T00:00:00+01:00",
                                   "1900-01-01T00:00:00Z", 1e20, -1e20, 253402300800])
def test_a_meter_time_outside_the_calendar_is_refused_not_a_failed_tick(metered, stamp) -> None:
    inbox = tick(metered, meter=meter({"power": 700, "time": stamp}))
    assert inbox.meter_problem is not None and inbox.reading.import_w is None


# --- ids: a command hits only its topic's appliance ----------------------------------------------

def test_an_execution_id_of_another_appliance_is_rejected(house) -> None:
    wattplan("enqueue", "dishwasher", "--now", "2026-06-30T07:59")  # #1
    wattplan("enqueue", "washer", "--now", "2026-06-30T07:59")  # #2
    tick(house, (CANCEL.format("washer"), '{"execution_id": 1}'), (DONE.format("washer"), '{"execution_id": 1}'))
    assert runs(house) == [(1, "dishwasher", "running"), (2, "washer", "running")]
    assert [status for _t, status, _r, _e in commands(house)] == ["rejected", "rejected"]
    assert "'washer' has no execution #1" in commands(house)[0][2]


@pytest.mark.parametrize("body", ['{"execution_id": 0}', '{"execution_id": -2}', '{"execution_id": true}',
                                  '{"execution_id": false}', '{"execution_id": 9223372036854775808}',
                                  '{"execution_id": null}', '{"execution_id": "2"}', '{"execution_id": 2.0}'])
def test_zero_negative_and_non_integer_ids_are_rejected_not_read_as_no_id(house, body) -> None:
    wattplan("enqueue", "washer", "--now", "2026-06-30T07:59")  # #1, running after the first tick
    tick(house)
    tick(house, (CANCEL.format("washer"), body), now=NOW + MIN)
    assert runs(house) == [(1, "washer", "running")]
    assert commands(house)[-1][1] == "rejected"


def test_an_execution_id_of_the_topics_appliance_is_applied(house) -> None:
    wattplan("enqueue", "dishwasher", "--now", "2026-06-30T07:59")
    wattplan("enqueue", "washer", "--now", "2026-06-30T07:59")
    tick(house, (CANCEL.format("washer"), '{"execution_id": 2}'))
    assert runs(house) == [(1, "dishwasher", "running"), (2, "washer", "cancelled")]
    assert commands(house) == [("wattplan/washer/cancel/set", "applied", "cancelled execution #2", 2)]


# --- energy requests for modulating appliances ---------------------------------------------------

def energies(db) -> list[tuple]:
    return rows(db, "SELECT energy_wh, latest_end FROM execution ORDER BY id")


def test_an_ev_is_asked_for_an_energy_by_a_time(house) -> None:
    tick(house, (REQUEST.format("ev"), '{"energy": "5kWh", "by": "2026-06-30T14:00"}'))
    assert energies(house) == [(5000.0, "2026-06-30 12:00:00.000000")]
    tick(house, (CANCEL.format("ev"), ""), (REQUEST.format("ev"), '{"energy": 2500}'), now=NOW + MIN)
    assert energies(house)[1][0] == 2500.0
    assert [status for _t, status, _r, _e in commands(house)] == ["applied"] * 3


def test_the_charge_button_uses_the_default_energy_else_charges_to_full(house) -> None:
    tick(house, (REQUEST.format("ev"), "charge"))  # Home Assistant's "Request charge"
    assert energies(house)[0][0] == pytest.approx(3700 * 48)  # to full: 48 h at 3.7 kW (no default, no deadline)
    assert "to full: 48h at 3.7kW" in commands(house)[0][2]
    tick(house, (CANCEL.format("ev"), ""), now=NOW + MIN)
    with sqlite3.connect(house) as connection:  # no CLI sets it yet: the column is schema 0005's
        connection.execute("UPDATE appliance SET default_energy_wh = 20000 WHERE name = 'ev'")
    tick(house, (REQUEST.format("ev"), ""), now=NOW + 2 * MIN)
    assert energies(house)[1][0] == 20000.0


def test_to_full_by_a_deadline_is_what_the_charger_delivers_until_then(house) -> None:
    tick(house, (REQUEST.format("ev"), '{"by": "2026-06-30T12:00"}'))  # 4 h away
    assert energies(house)[0][0] == pytest.approx(3700 * 4)


@pytest.mark.parametrize("topic,body,said", [
    ("washer", '{"program": "eco", "energy": "5kWh"}', "does not modulate"),
    ("ev", '{"energy": "1e308Wh"}', "energy"), ("ev", '{"energy": "-5kWh"}', "energy"),
    ("ev", '{"energy": true}', "energy must be"), ("ev", '{"energy": "5"}', "not an energy"),
    ("ev", '{"energy": 0}', "above 0"), ("ev", '{"energy": "200kWh"}', "longer than the longest"),
])
def test_a_bad_energy_is_rejected(house, topic, body, said) -> None:
    tick(house, (REQUEST.format(topic), body))
    ((_t, status, reason, _e),) = commands(house)
    assert status == "rejected" and said in reason and runs(house) == []


# --- the meter's clock -----------------------------------------------------------------------------

def test_a_reading_from_the_future_is_refused_so_a_dead_meter_goes_stale(metered) -> None:
    tick(metered, meter=meter({"power": 800, "time": "2026-06-30T08:00:00"}))
    ahead = meter({"power": 800, "time": "2026-07-01T08:00:00"})  # the retained reading of a meter off by a day
    for minute in (2, 5, 10):
        inbox = tick(metered, meter=ahead, now=NOW + minute * MIN)
        assert "ahead of the tick's clock" in inbox.meter_problem
        assert inbox.reading.at == NOW  # ageing: stale after --meter-max-age (60 s)
    close = tick(metered, meter=meter({"power": 900, "time": "2026-06-30T08:11:30"}), now=NOW + 10 * MIN)
    assert close.meter_problem is None and (close.reading.import_w, close.reading.at) == (900, NOW + 10 * MIN)


# --- topics --------------------------------------------------------------------------------------

def test_topics_lead_to_appliances_by_their_stored_topic_id(house) -> None:
    names = ["a/b", "a+b", "a_b", "洗濯機", "乾燥機"]
    for name in names:
        wattplan("appliance", "add", name, "--max-delay", "6h")
        wattplan("profile", "add", name, "p", "--power", "100W", "--duration", "10m")
    ids = dict(rows(house, "SELECT name, topic_id FROM appliance"))
    assert len({ids[name] for name in names}) == len(names)
    tick(house, *[(REQUEST.format(ids[name]), "p") for name in names])
    assert sorted(name for _id, name, _state in runs(house)) == sorted(names)
    tick(house, (REQUEST.format("a_b_"), "p"), now=NOW + MIN)  # a name sanitised is not a topic id
    assert commands(house)[-1][1] == "rejected" and "no appliance 'a_b_'" in commands(house)[-1][2]


@pytest.mark.parametrize("topic", ["wattplan/washer/request/set/x", "wattplan//request/set",
                                   "wattplan/washer/start/set", "other/washer/request/set",
                                   "wattplan/" + "w" * 300 + "/request/set", "wattplan/\x00/request/set",
                                   "wattplan/Washer/request/set"])
def test_any_other_topic_is_rejected_and_recorded_printable(house, topic) -> None:
    inbox = tick(house, (topic, "eco"))
    ((stored, status, reason, _e),) = commands(house)
    assert status == "rejected" and len(inbox.rejected) == 1 and stored.isprintable() and len(stored) <= 300
    assert runs(house) == []


@pytest.mark.parametrize("payload", [
    '{"priority_class": 1e999999}', '{"priority_class": ' + "1" * 4000 + "}", '{"program": NaN}',
    '{"program": "eco\\u0000"}', '{"program": "\\ud800"}', '{"program": "' + "x" * 65 + '"}',
    "x" * 65, '{"id": "' + "i" * 65 + '"}', '{"id": ["a"]}', '{"within": [1]}', '{"by": 1700000000}',
    '{"priority_class": 99}', '{"objective": "fastest"}', '{"within": 1e308}', '{"within": "9999999d"}',
    '{"not_before": "0001-01-01T00:00"}', '{"by": "9999-12-31T23:59-05:00"}', "[" * 4000, '{"\\u001b[31m": 1}',
])
def test_bad_request_values_are_rejected_in_one_printable_line(house, payload) -> None:
    tick(house, (REQUEST.format("washer"), payload))
    ((_t, status, reason, _e),) = commands(house)
    assert status == "rejected" and "\n" not in reason and reason.isprintable() and len(reason) <= 300
    assert runs(house) == []


def test_a_message_remembers_the_brokers_dup_flag() -> None:
    assert Message("t", b"", 1, 1).dup is False and Message("t", b"", 1, 1, dup=True).dup is True


# --- end to end: a real Mosquitto, real `wattplan tick` processes -------------------------------

def test_poison_through_a_real_broker_leaves_every_later_tick_exiting_0(tmp_path, broker) -> None:  # noqa: F811
    db = tmp_path / "e2e.db"
    for args in (("init", "--limit", "4.6kW", "--timezone", "Europe/Berlin"), ("appliance", "add", "washer"),
                 ("profile", "add", "washer", "eco", "--power", "2kW", "--duration", "1h"),
                 ("mqtt", "set", "--broker", broker.url, "--meter-topic", "meter/house"),
                 ("tick", "--now", "2026-12-01T10:00:00Z")):  # the first tick creates the broker session
        assert cli(db, *args).returncode == 0
    ha = Listener(broker.port, "wattplan/status")
    try:
        ha.publish("meter/house", b"[" * 3000 + b"]" * 3000, retain=True)  # retained: delivered to every tick
        ha.publish(REQUEST.format("washer"), '{"program":' + "[" * 2000 + "]" * 2000 + "}")
        ha.publish(REQUEST.format("washer"), "eco")
    finally:
        ha.close()
    for minute in (1, 2, 3):
        done = cli(db, "tick", "--now", f"2026-12-01T10:0{minute}:00Z")
        assert (done.returncode, done.stderr) == (0, ""), done.stderr
        assert "meter: the meter payload nests deeper than 16 levels" in done.stdout and "published" in done.stdout
    statuses = rows(db, "SELECT status, reason FROM mqttcommand ORDER BY id")
    assert [status for status, _reason in statuses] == ["rejected", "applied"]  # once: acknowledged, not redelivered
    assert "nests deeper than" in statuses[0][1]
    assert rows(db, "SELECT id, state FROM execution") == [(1, "pending")]  # no reading: nothing new starts


def cli(db, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), "--db", str(db), *args], capture_output=True, text=True, timeout=120)
