"""`wattplan tick` for a home with MQTT: receive, tick (applying what was received), commit, then
acknowledge and publish. The broker down does not stop the tick: it plans and commits on what the
database knows (the meter's last reading ages out) and says so; the next tick that reaches the
broker gets the commands still queued there and publishes the whole truth again.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from reconcile.adapters.mqtt.client import Broker, BrokerDown
from reconcile.adapters.mqtt.inbox import Inbox
from reconcile.adapters.mqtt.publishing import publish_all
from reconcile.adapters.mqtt.settings import Settings
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
        publish_all(broker, engine, settings, home, report.now, inbox.reading, force_discovery=received.ha_online)
    except BrokerDown as error:
        problem = str(error)
    finally:
        broker.close()
    return MqttTickReport(report, inbox, problem)
