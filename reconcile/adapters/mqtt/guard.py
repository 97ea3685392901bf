"""`wattplan guard`: a long-running watch on the meter for spikes the minute tick is too slow for.

When the measured import stays above the home's limit for `grace_s` (every reading in that time
above it), the guard pauses the lowest-priority interruptible running run, through the same state
change the tick uses (`planner.states.transition`), and publishes the new state at once (its relay
is switched off, `should_run` turns false). It only removes load: only the tick starts or resumes
a run. After a pause it waits another full `grace_s` above the limit before pausing the next.

The clock is a parameter (`monotonic`, `wall`): only the command line reads it.
"""

import threading
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from sqlalchemy import select, update

from models import Appliance, Execution
from reconcile.adapters.mqtt.client import BrokerDown
from reconcile.adapters.mqtt.meter import read_meter
from reconcile.adapters.mqtt.publish import state_messages
from reconcile.adapters.mqtt.settings import Settings, reading
from reconcile.planner.states import transition
from reconcile.shell.db import transaction, translate_errors
from reconcile.shell.store import home_row, load_run
from reconcile.shell.writer import transition_columns


class Guard:
    def __init__(self, *, engine, home: str | None, settings: Settings, password: str | None, grace_s: float,
                 monotonic: Callable[[], float], wall: Callable[[], datetime], say: Callable[[str], None]) -> None:
        if not settings.meter_topic:
            raise BrokerDown("the guard needs a meter: `wattplan mqtt set --meter-topic TOPIC`")
        self.engine, self.home, self.settings, self.grace_s = engine, home, settings, grace_s
        self.monotonic, self.wall, self.say = monotonic, wall, say
        with reading(engine, home) as session:
            row = home_row(session)
            self.limit_w, self.zone = row.limit_w, ZoneInfo(row.timezone)
        self.above_since: float | None = None  # set by paho's network thread, read by the watch loop
        self._reading = threading.Event()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{settings.client_id}-guard",
                             protocol=paho.MQTTv5)
        if settings.username:
            client.username_pw_set(settings.username, password)
        if settings.tls:
            client.tls_set()
        client.on_connect = lambda c, *_a: c.subscribe(settings.meter_topic, qos=0)
        client.on_message = self._on_reading
        self.client = client

    def run(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Watch until `stop()` (tests) or the process is stopped; reconnects after a broker outage."""
        s = self.settings
        try:
            self.client.connect(s.host, s.port, keepalive=30)
        except OSError as error:
            raise BrokerDown(f"cannot reach the MQTT broker {s.broker}: {error.strerror or error}") from None
        self.say(f"guard: watching {s.meter_topic} against {self.limit_w:.0f} W, grace {self.grace_s:g}s")
        self.client.loop_start()
        try:
            while not stop():
                self._check(self.monotonic())
                self._reading.wait(0.1)  # a new reading, or a tenth of a second: the grace may be over
                self._reading.clear()
        finally:
            self.client.loop_stop()
            self.client.disconnect()

    def _on_reading(self, _client, _userdata, msg) -> None:
        try:
            watts, _at = read_meter(bytes(msg.payload), key=self.settings.meter_key, unit=self.settings.meter_unit,
                                    zone=self.zone)
        except ValueError as error:
            return self.say(f"guard: {error}")
        if msg.retain:  # an old reading held by the broker says nothing about now
            return None
        if watts <= self.limit_w:
            self.above_since = None
        elif self.above_since is None:
            self.above_since = self.monotonic()
        self._reading.set()
        return None

    def _check(self, now: float) -> None:
        if self.above_since is None or now - self.above_since < self.grace_s:
            return
        self.above_since = now  # re-armed: the next pause needs another full grace above the limit
        said = translate_errors(self._pause_lowest, self.wall())
        self.say(f"guard: {said}")

    def _pause_lowest(self, at: datetime) -> str:
        with transaction(self.engine, home=self.home) as session:
            home_id = home_row(session).id
            lowest = session.execute(select(Execution.id, Appliance.name).join(Appliance).where(
                Execution.home_id == home_id, Execution.state == "running", Appliance.interruptible.is_(True))
                .order_by(Execution.priority, Execution.id.desc()).limit(1)).first()
            if lowest is None:
                return "import above the limit, but no interruptible run is running"
            change = transition(load_run(session, home_id, lowest.id), "pause", at)
            session.execute(update(Execution), [{"id": lowest.id, **transition_columns(change)}])
        with reading(self.engine, self.home) as session:
            messages = state_messages(session, self.settings, at, None)
        for topic, payload, retain in messages:
            self.client.publish(topic, payload, qos=1, retain=retain)
        return f"import above {self.limit_w:.0f} W for {self.grace_s:g}s: paused execution #{lowest.id} ({lowest.name})"
