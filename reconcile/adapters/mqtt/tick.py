"""`wattplan tick` for a home with MQTT: receive, tick (applying what was received), commit, then
acknowledge and publish. The broker down does not stop the tick: it plans and commits on what the
database knows (the meter's last reading ages out) and says so; the next tick that reaches the
broker gets the commands still queued there and publishes the whole truth again.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update

from models import Appliance, Profile
from reconcile.adapters.mqtt.client import Broker, BrokerDown
from reconcile.adapters.mqtt.discovery import digest, discovery_messages
from reconcile.adapters.mqtt.inbox import Inbox
from reconcile.adapters.mqtt.publish import state_messages
from reconcile.adapters.mqtt.settings import SETTINGS, Settings, reading
from reconcile.shell.db import transaction, translate_errors
from reconcile.shell.tick import TickReport, run_tick


@dataclass(frozen=True, slots=True)
class MqttTickReport:
    tick: TickReport
    inbox: Inbox
    broker_problem: str | None  # None: received, acknowledged and published

    def summary(self) -> str:
        said = self.tick.summary() + "; " + self.inbox.summary()
        return said + (f"; broker down: {self.broker_problem}" if self.broker_problem else "; published")


def tick_with_mqtt(*, engine: Engine, settings: Settings, password: str | None, now: datetime, ran_at: datetime,
                   keep_s: int | None, home: str | None, timeout_s: float = 10.0,
                   unreachable: str | None = None) -> MqttTickReport:
    """The tick with the broker; `unreachable`: why not even to try (the password file is unreadable)."""
    inbox, problem = Inbox(settings), unreachable
    broker = None if unreachable else Broker(settings, password, timeout_s)
    try:
        received = broker.open().received if broker else None
        if received:
            inbox.commands, inbox.meter = received.commands, received.meter
    except BrokerDown as error:
        broker, problem = None, str(error)
    try:
        report = run_tick(engine=engine, now=now, ran_at=ran_at, keep_s=keep_s, home=home, before_plan=inbox)
    except BaseException:
        if broker is not None:  # nothing acknowledged: the broker delivers the commands again
            broker.close()
        raise
    if broker is None:
        return MqttTickReport(report, inbox, problem)
    try:
        broker.ack(inbox.commands)  # committed: the broker may forget them
        _publish(broker, engine, settings, home, report.now, inbox, received.ha_online)
    except BrokerDown as error:
        problem = str(error)
    finally:
        broker.close()
    return MqttTickReport(report, inbox, problem)


def _publish(broker: Broker, engine, settings: Settings, home: str | None, now: datetime, inbox: Inbox,
             ha_online: bool) -> None:
    with reading(engine, home) as session:
        messages = state_messages(session, settings, now, inbox.reading)
        configs = discovery_messages(settings, _programs(session, settings.home_id))
    fingerprint = digest(configs)
    if ha_online or fingerprint != settings.discovery_digest:
        broker.publish(configs)
        translate_errors(_remember, engine, home, settings.home_id, fingerprint)
    broker.publish(messages)


def _remember(engine, home, home_id: int, fingerprint: str) -> None:
    with transaction(engine, home=home) as session:
        session.execute(update(SETTINGS).where(SETTINGS.c.home_id == home_id).values(discovery_digest=fingerprint))


def _programs(session, home_id: int) -> dict[str, list[str]]:
    programs: dict[str, list[str]] = {}
    for appliance, program in session.execute(select(Appliance.name, Profile.name).outerjoin(
            Profile, Profile.appliance_id == Appliance.id).where(Appliance.home_id == home_id)
            .order_by(Appliance.name, Profile.name)):
        programs.setdefault(appliance, [])
        if program is not None:
            programs[appliance].append(program)
    return programs
