"""One tick's MQTT session: connect, drain what was queued, acknowledge after the commit, publish.

The only module that imports paho-mqtt (2.x). MQTT 5 with a stable client id, `clean_start=False`
and a session that never expires: the broker keeps the QoS 1 commands published while no tick is
connected. Acknowledgements are manual (`manual_ack=True`): a command is acknowledged only after
the tick that applied it committed, so a tick killed in between gets it again from the broker.

The end of the queue: after subscribing, the tick publishes a marker to a topic of its own; the
broker delivers it after everything queued for the session and every retained message of the
subscriptions, so its arrival means "nothing more is waiting".

Liveness: `<prefix>/status` is `online` (retained) while ticks run. The will, `offline`, has a
delay of WILL_DELAY_S, and each tick disconnects asking for it: if no tick reconnects within that
delay (the timer stopped, the machine is down), the broker publishes `offline`.
"""

import secrets
import time
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from reconcile.adapters.mqtt.settings import Settings
from reconcile.adapters.mqtt.topics import Message, command_filters

WILL_DELAY_S = 150  # two and a half tick periods without a tick: the broker says offline
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
RECEIVE_MAXIMUM = 1000  # unacknowledged commands the broker may send one tick
HA_STATUS = "status"  # <discovery prefix>/status: Home Assistant's birth message


class BrokerDown(Exception):
    """The broker could not be reached or refused us: one line, never the password."""


@dataclass
class Received:
    commands: list[Message] = field(default_factory=list)
    meter: Message | None = None  # the newest meter message
    ha_online: bool = False  # Home Assistant announced itself: discovery is published again
    complete: bool = False  # the marker came back: nothing else was waiting


class Broker:
    """A connected session (`open`), one tick long."""

    def __init__(self, settings: Settings, password: str | None, timeout_s: float = 10.0,
                 will_delay_s: int = WILL_DELAY_S) -> None:
        self.settings, self.timeout_s = settings, timeout_s
        self.received = Received()
        self._marker = f"{settings.prefix}/_wattplan/{settings.client_id}/marker"
        self._nonce = secrets.token_hex(8).encode()
        self._connected: ReasonCode | None = None
        self._subscribed = self._closed = False
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             protocol=paho.MQTTv5, manual_ack=True, reconnect_on_failure=False)
        if settings.username:
            client.username_pw_set(settings.username, password)
        if settings.tls:
            client.tls_set()
        will = Properties(PacketTypes.WILLMESSAGE)
        will.WillDelayInterval = will_delay_s
        client.will_set(f"{settings.prefix}/status", b"offline", qos=1, retain=True, properties=will)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *_args: setattr(self, "_subscribed", True)
        client.on_message = self._on_message
        client.on_disconnect = lambda *_args: setattr(self, "_closed", True)
        self.client = client

    def open(self) -> "Broker":
        """Connect, subscribe and drain the queue (up to `timeout_s`); BrokerDown if unreachable."""
        s = self.settings
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        try:
            self.client.connect(s.host, s.port, keepalive=60, clean_start=False, properties=properties)
        except (OSError, ValueError) as error:
            raise BrokerDown(f"cannot reach the MQTT broker {s.broker}: {getattr(error, 'strerror', None) or error}"
                             ) from None
        self._loop_until(lambda: self._connected is not None, "no answer to CONNECT")
        if self._connected.is_failure:
            raise BrokerDown(f"the MQTT broker {s.broker} refused the connection: {self._connected}")
        never = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        topics = [(t, never) for t in command_filters(s.prefix)]
        topics += [(self._marker, never), (f"{s.discovery_prefix}/{HA_STATUS}", SubscribeOptions(qos=1))]
        if s.meter_topic:
            topics.append((s.meter_topic, SubscribeOptions(qos=0)))  # the newest (retained) reading only
        self.client.subscribe(topics)
        self._loop_until(lambda: self._subscribed, "no answer to SUBSCRIBE")
        self.client.publish(self._marker, self._nonce, qos=1)
        self._loop_until(lambda: self.received.complete, None)
        return self

    def ack(self, messages: list[Message]) -> None:
        """Acknowledge `messages` (after the commit): the broker forgets them."""
        for message in messages:
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)

    def publish(self, messages: list[tuple[str, bytes, bool]]) -> None:
        """Publish (topic, payload, retain) at QoS 1 and wait until the broker has them all."""
        infos = [self.client.publish(topic, payload, qos=1, retain=retain) for topic, payload, retain in messages]
        self._loop_until(lambda: all(i.is_published() for i in infos), "the broker did not confirm every publish")

    def close(self) -> None:
        """Disconnect asking for the will (delayed: see the module's docstring)."""
        if self._connected is not None and not self._connected.is_failure:
            self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
            self._loop_until(lambda: self._closed, None)

    def _loop_until(self, done, failure: str | None) -> None:
        deadline = time.perf_counter() + self.timeout_s
        while not done():
            if time.perf_counter() > deadline:
                if failure is None:
                    return  # the marker: go on with what arrived (the rest comes next tick)
                raise BrokerDown(f"the MQTT broker {self.settings.broker}: {failure} within {self.timeout_s:g}s")
            if self.client.loop(0.05) not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_AGAIN):
                if failure is None:
                    return
                raise BrokerDown(f"lost the connection to the MQTT broker {self.settings.broker}")

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self._connected = reason_code

    def _on_message(self, _client, _userdata, msg) -> None:
        message = Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain))
        s = self.settings
        if msg.topic == self._marker:
            self.ack([message])
            self.received.complete = self.received.complete or message.payload == self._nonce
        elif s.meter_topic and paho.topic_matches_sub(s.meter_topic, msg.topic):
            self.received.meter = message
            self.ack([message])
        elif msg.topic == f"{s.discovery_prefix}/{HA_STATUS}":
            self.received.ha_online = self.received.ha_online or message.payload.strip() == b"online"
            self.ack([message])
        else:
            self.received.commands.append(message)
