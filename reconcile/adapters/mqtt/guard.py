"""`wattplan guard`: a long-running watch on the meter for spikes the minute tick is too slow for.

Evidence: a live reading (never a retained one: the broker's copy says nothing about now) counts
only while it is younger than `grace_s`. The guard pauses when the import has been above the
home's limit for `grace_s` (every reading in that time above it) AND the newest reading, above
the limit, is younger than `grace_s`. Silence (a dead meter, a dead broker) is no evidence: once
the newest reading is `grace_s` old, what was seen is forgotten (`above_since` resets), so one
high reading followed by silence pauses nothing. After each (re)connect it forgets everything and
waits for fresh readings. It needs a meter that reports more often than once per `grace_s`.

The pause is the tick's: the lowest-priority interruptible running run goes through
`planner.states.transition("pause")`, and its decision is written by the tick's writer
(`shell.writer.write_decisions`), so `decisions` reads start, pause (reason "guard: …"), resume.
The decision names the newest tick (the one whose plan the guard overrode) instead of a tick row
of its own: a row of its own would read as the timer's tick to `status --check` and `state`,
hiding a stopped timer. The new state is published at once (relay off, `should_run` false). The
guard only removes load: only the tick starts or resumes a run. After a pause it waits another
full `grace_s` above the limit before pausing the next.

The clock is a parameter (`monotonic`, `wall`): only the command line reads it.
"""

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from sqlalchemy import func, select, update

from models import Appliance, Execution, Tick
from reconcile.adapters.mqtt.connect import new_client
from reconcile.adapters.mqtt.loop import Stop, stay_connected
from reconcile.adapters.mqtt.meter import read_meter
from reconcile.adapters.mqtt.publish import state_messages
from reconcile.adapters.mqtt.settings import Settings, reading
from reconcile.errors import ReconcileError
from reconcile.planner.domain import Decision
from reconcile.planner.states import transition
from reconcile.shell.db import transaction, translate_errors
from reconcile.shell.store import home_row, load_run
from reconcile.shell.writer import start_tick, transition_columns, write_decisions


class Evidence:
    """What the live readings say, seen from `now`: pure, the clock is given. Invariant: `above_since`
    is set only while the newest reading is above the limit and younger than `grace_s`."""

    def __init__(self, limit_w: float, grace_s: float) -> None:
        self.limit_w, self.grace_s = limit_w, grace_s
        self.above_since: float | None = None  # the first reading of the current run above the limit
        self.newest_at: float | None = None  # when the newest live reading arrived

    def reading(self, watts: float, now: float) -> None:
        self.newest_at = now
        if watts <= self.limit_w:
            self.above_since = None
        elif self.above_since is None:
            self.above_since = now

    def forget(self) -> None:
        """A (re)connect: nothing seen before counts."""
        self.above_since = self.newest_at = None

    def overloaded(self, now: float) -> bool:
        """Above the limit for the whole grace, by a reading still younger than it; re-armed when true."""
        if self.newest_at is None or now - self.newest_at >= self.grace_s:
            self.above_since = None  # silence is no evidence
            return False
        if self.above_since is None or now - self.above_since < self.grace_s:
            return False
        self.above_since = now  # the next pause needs another full grace above the limit
        return True


class Guard:
    def __init__(self, *, engine, home: str | None, settings: Settings, password: str | None, grace_s: float,
                 monotonic: Callable[[], float], wall: Callable[[], datetime], say: Callable[[str], None]) -> None:
        if not settings.meter_topic:  # a configuration error: exit 1, which the unit does not restart on
            raise ReconcileError("the guard needs a meter: `wattplan mqtt set --meter-topic TOPIC`")
        self.engine, self.home, self.settings, self.grace_s = engine, home, settings, grace_s
        self.monotonic, self.wall, self.say = monotonic, wall, say
        with reading(engine, home) as session:
            row = home_row(session)
            self.limit_w, self.zone = row.limit_w, ZoneInfo(row.timezone)
        self.evidence = Evidence(self.limit_w, grace_s)
        self.client = new_client(settings, password, client_id=f"{settings.client_id}-guard")
        self.client.on_message = self._on_reading

    def run(self, stop: Stop) -> None:
        """Watch until `stop()` (SIGTERM, or a test); reconnects with backoff after a broker outage."""
        self.say(f"guard: watching {self.settings.meter_topic} against {self.limit_w:.0f} W, grace {self.grace_s:g}s")
        stay_connected(self.client, self.settings, what="guard", stop=stop, step=self._check, say=self.say,
                       on_connect=self._subscribe, monotonic=self.monotonic)

    def _subscribe(self, client: paho.Client) -> None:
        self.evidence.forget()
        client.subscribe(self.settings.meter_topic, qos=0)

    def _on_reading(self, _client, _userdata, msg) -> None:
        if msg.retain:  # an old reading held by the broker says nothing about now
            return None
        try:
            watts, _at = read_meter(bytes(msg.payload), key=self.settings.meter_key, unit=self.settings.meter_unit,
                                    zone=self.zone)
        except ValueError as error:
            return self.say(f"guard: {error}")
        self.evidence.reading(watts, self.monotonic())
        return None

    def _check(self, now: float) -> None:
        if not self.evidence.overloaded(now):
            return
        try:
            said = translate_errors(self._pause_lowest, self.wall())
        except ReconcileError as error:  # the database busy: the next grace above the limit tries again
            said = f"could not pause: {error}"
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
            why = f"guard: import above {self.limit_w:.0f} W for {self.grace_s:g}s"
            write_decisions(session, home_id=home_id, tick_id=_newest_tick(session, home_id, at), now=at,
                            decisions=(Decision(lowest.id, "pause", why),))
        self._publish(at)
        return f"import above {self.limit_w:.0f} W for {self.grace_s:g}s: paused execution #{lowest.id} ({lowest.name})"

    def _publish(self, at: datetime) -> None:
        with reading(self.engine, self.home) as session:
            messages = state_messages(session, self.settings, at, None)
        for topic, payload, retain in messages:
            self.client.publish(topic, payload, qos=1, retain=retain)


def _newest_tick(session, home_id: int, at: datetime) -> int:
    """The tick whose plan the guard overrides; a tick row of its own only if the home never ticked."""
    newest = session.execute(select(func.max(Tick.id)).where(Tick.home_id == home_id)).scalar()
    return newest if newest is not None else start_tick(session, home_id=home_id, now=at, ran_at=at)
