"""Fuzzing what a tick receives over MQTT: request, cancel, done and meter payloads and topics
(random bytes and text, JSON nested thousands deep, huge and non-finite numbers, unicode, wrong
types, ids of other appliances' runs), each batch handed to the Inbox inside a real `run_tick` on
one real SQLite file, minute after minute. Properties: the tick never raises; every command is
recorded exactly once, applied or rejected (or counted as an id already applied); a command changes
only runs of its own topic's appliance; the stored meter reading is never from the future.

CI (`CI=1`, the `ci` profile) replays the same derandomized examples: a fixed budget, ~20 s here.
"""

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models import Execution
from reconcile.adapters.mqtt import settings as mqtt_settings
from reconcile.adapters.mqtt.inbox import Inbox
from reconcile.adapters.mqtt.topics import ACTIONS, END_KEYS, REQUEST_KEYS, Message
from reconcile.shell.db import make_engine, transaction
from reconcile.shell.tick import run_tick
from tests.cli_home import rows, wattplan

T0 = datetime(2026, 6, 30, 6, 0, tzinfo=UTC)
TOPIC_IDS = ("washer", "dishwasher", "ev")

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 40), st.integers(-2**70, 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=80),
    st.text(st.characters(codec=None), max_size=20),  # lone surrogates, controls
    st.sampled_from(["eco", "charge", "20kWh", "500Wh", "1e308Wh", "-5kWh", "4h", "90m", "0s", "12:00", "25:99",
                     "2026-06-30T14:00", "2026-06-30T05:00", "9999-12-31T23:59-05:00", "0001-01-01T00:00",
                     "asap", "cheapest", "solar", "fastest", "1", "0", "-1"]))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=6)
_keys = st.sampled_from(sorted(REQUEST_KEYS | END_KEYS | {"power", "time"})) | st.text(max_size=12)
_objects = st.dictionaries(_keys, _values, max_size=5).map(lambda body: json.dumps(body).encode())
_raw_numbers = st.sampled_from(["1e999999", "-1e999999", "9" * 4000, "1" * 41, "NaN", "Infinity", "-0", "1e-400",
                                "0.0000000000000000000000000000000000001"])
_number_bodies = st.tuples(st.sampled_from(sorted(REQUEST_KEYS | END_KEYS)), _raw_numbers).map(
    lambda kv: f'{{"{kv[0]}": {kv[1]}}}'.encode())
_nested = st.tuples(st.integers(1, 5000), st.sampled_from("[{"), st.booleans()).map(
    lambda t: (t[1] * t[0] if t[1] == "[" else '{"a":' * t[0]).encode() + (b"]" * t[0] if t[2] else b""))
_ids = st.integers(-2, 30).map(lambda n: json.dumps({"execution_id": n}).encode())
_good = st.sampled_from([b"", b"eco", b"quick", b"charge", b"{}", b'{"energy": "5kWh"}', b'{"energy": 800}',
                         b'{"program": "eco", "within": "2h"}', b'{"by": "2026-06-30T20:00", "id": "x"}',
                         b'{"program": "quick", "priority_class": 9}', b'{"objective": "cheapest"}'])
PAYLOADS = st.one_of(_good, _good, _ids, st.binary(max_size=300), st.text(max_size=100).map(str.encode), _objects,
                     _number_bodies, _nested, _ids, st.sampled_from([b"", b"eco", b"charge", b"{}", b"null", b"[]"]))

_good_topics = st.tuples(st.sampled_from(TOPIC_IDS), st.sampled_from(ACTIONS)).map(
    lambda t: f"wattplan/{t[0]}/{t[1]}/set")
_odd_topics = st.sampled_from(["wattplan/washer/request/set/x", "wattplan//request/set", "wattplan/Washer/done/set",
                               "wattplan/" + "w" * 400 + "/request/set", "wattplan/washer/request"])
TOPICS = st.one_of(_good_topics, _good_topics, st.text(max_size=300), st.text(st.characters(codec=None), max_size=40),
                   st.tuples(st.text(max_size=50), st.sampled_from(ACTIONS)).map(
                       lambda t: f"wattplan/{t[0]}/{t[1]}/set"),
                   _odd_topics)

_meter_times = st.one_of(st.none(), st.integers(-2**64, 2**64), st.floats(), st.text(max_size=40),
                         st.sampled_from(["2026-06-30T08:00:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00",
                                          "2030-01-01T00:00:00Z", "2026-06-30T06:00:30Z"]))
_meter_objects = st.tuples(_values, _meter_times).map(lambda pt: json.dumps({"power": pt[0], "time": pt[1]}).encode())
_fresh = st.integers(0, 4000).map(lambda w: Message("meter/house", str(w).encode(), 0, 0, False))
METERS = st.one_of(st.none(), _fresh, _fresh, _fresh, st.tuples(
    st.one_of(PAYLOADS, _meter_objects, _nested), st.booleans()).map(
    lambda pr: Message("meter/house", pr[0], 0, 0, pr[1])))
_sensible = st.tuples(_good_topics, st.one_of(_good, _ids, _objects))  # reaches the appliances' runs
BATCHES = st.tuples(st.lists(st.one_of(_sensible, _sensible, st.tuples(TOPICS, PAYLOADS)), max_size=6), METERS)


class Watched:
    """The tick's inbox, with the executions read in the same transaction just before and after it."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox, self.before, self.after = inbox, {}, {}

    def __call__(self, session, home, now) -> None:
        self.before = _executions(session)
        self.inbox(session, home, now)
        self.after = _executions(session)


def _executions(session) -> dict[int, tuple]:
    return {row.id: tuple(row) for row in session.execute(select(
        Execution.id, Execution.appliance_id, Execution.state, Execution.ended_at, Execution.energy_wh))}


def test_no_message_stops_a_tick_or_touches_another_appliances_runs(home) -> None:
    wattplan("appliance", "add", "washer", "--max-delay", "6h")
    wattplan("profile", "add", "washer", "eco", "--power", "1kW", "--duration", "10m")
    wattplan("appliance", "add", "dishwasher")
    wattplan("profile", "add", "dishwasher", "eco", "--power", "1kW", "--duration", "10m")
    wattplan("profile", "add", "dishwasher", "quick", "--power", "1kW", "--duration", "5m")
    wattplan("appliance", "add", "ev", "--min-power", "1.4kW", "--max-power", "3.7kW")
    wattplan("mqtt", "set", "--broker", "mqtt://127.0.0.1:1", "--meter-topic", "meter/house")
    appliance_of = dict(rows(home, "SELECT topic_id, id FROM appliance"))
    assert set(appliance_of) == set(TOPIC_IDS)
    engine = make_engine(f"sqlite:///{home}")
    minutes = iter(range(10**6))

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(BATCHES)
    def one_tick(batch) -> None:
        commands, meter = batch
        now = T0 + timedelta(minutes=next(minutes))
        with transaction(engine) as session:
            inbox = Inbox(mqtt_settings.load(session))
        inbox.commands = [Message(topic, payload, mid, 1) for mid, (topic, payload) in enumerate(commands, 1)]
        inbox.meter = meter
        watched = Watched(inbox)
        seen = rows(home, "SELECT max(id) FROM mqttcommand")[0][0] or 0
        run_tick(engine=engine, now=now, before_plan=watched)  # never raises

        recorded = rows(home, f"SELECT topic, status, execution_id FROM mqttcommand WHERE id > {seen} ORDER BY id")
        assert len(recorded) == len(commands) - inbox.duplicates
        assert [s for _t, s, _e in recorded].count("applied") == inbox.applied
        assert [s for _t, s, _e in recorded].count("rejected") == len(inbox.rejected)
        assert all(status in ("applied", "rejected") for _t, status, _e in recorded)
        owners = {}  # execution id -> the appliance of the topic of the command that applied to it
        for topic, status, execution_id in recorded:
            if status == "applied":
                owners[execution_id] = appliance_of[topic.split("/")[1]]
                assert watched.after[execution_id][1] == owners[execution_id]
        changed = {i for i, row in watched.after.items() if watched.before.get(i) != row}
        assert changed <= set(owners), "a run changed that no applied command of its appliance named"
        assert all(watched.after[i][1] == owners[i] for i in changed)
        (meter_at,) = rows(home, "SELECT meter_at FROM mqttsettings")[0]
        assert meter_at is None or datetime.fromisoformat(meter_at).replace(tzinfo=UTC) <= now

    try:
        one_tick()
    finally:
        engine.dispose()
