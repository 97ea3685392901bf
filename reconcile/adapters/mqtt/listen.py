"""`wattplan listen`: a command published on MQTT wakes the tick at once instead of at the next minute.

The listener only wakes: it subscribes, with a client id of its own (`<client_id>-listen`), a
clean session that the broker forgets, at QoS 0 and without retained messages, to the command
topics (`<prefix>/+/<action>/set`) and Home Assistant's birth topic, and each message makes it
run `tick` (the one tick path, `adapters.mqtt.tick.tick_with_mqtt`: its own persistent session
with the stable client id drains the command, applies it, commits, acknowledges and publishes,
under the same per-home lock as the timer's tick). The message the listener saw is thrown away:
the command itself waits in the tick's session, so a listener that dies at any instant loses
nothing; the next tick, the timer's or its own, applies it once.

Pacing (`Pacing`): a burst is one tick (the first message is held DEBOUNCE_S for the rest of
it), ticks are at least MIN_GAP_S apart, and a message during a tick asks for one more after it.
It also ticks once after each accepted CONNECT: what was published while it was down is applied
now, not at the next minute. It never ticks on its own: the timer stays the source of truth.
"""

from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.subscribeoptions import SubscribeOptions

from reconcile.adapters.mqtt.client import HA_STATUS
from reconcile.adapters.mqtt.connect import new_client
from reconcile.adapters.mqtt.loop import Stop, stay_connected
from reconcile.adapters.mqtt.settings import Settings
from reconcile.adapters.mqtt.topics import command_filters

DEBOUNCE_S = 0.2  # after the first message: the rest of a burst (a button pressed twice) joins it
MIN_GAP_S = 1.0  # between the end of one tick and the start of the next


@dataclass
class Pacing:
    """When the next tick is due: None (nothing asked), else the monotonic instant. Pure: `now` is given."""

    debounce_s: float = DEBOUNCE_S
    min_gap_s: float = MIN_GAP_S
    due: float | None = None
    last_end: float | None = None

    def woken(self, now: float) -> None:
        """A message arrived: tick after the debounce, no sooner than MIN_GAP_S after the last tick."""
        if self.due is None:
            earliest = now if self.last_end is None else self.last_end + self.min_gap_s
            self.due = max(now + self.debounce_s, earliest)

    def ready(self, now: float) -> bool:
        return self.due is not None and now >= self.due

    def ticked(self, now: float) -> None:
        self.due, self.last_end = None, now


def subscriptions(settings: Settings) -> list[tuple[str, SubscribeOptions]]:
    """What wakes the listener: the command topics and HA's birth, QoS 0, no retained messages."""
    fresh_only = SubscribeOptions(qos=0, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
    topics = [*command_filters(settings.prefix), f"{settings.discovery_prefix}/{HA_STATUS}"]
    return [(topic, fresh_only) for topic in topics]


class Listener:
    """Wakes `tick` (which returns its one journal line) for each burst of commands; see the module."""

    def __init__(self, *, settings: Settings, password: str | None, tick: Callable[[], str],
                 say: Callable[[str], None], monotonic: Callable[[], float], pacing: Pacing | None = None) -> None:
        self.settings, self.tick, self.say, self.monotonic = settings, tick, say, monotonic
        self.pacing = pacing or Pacing()
        self.client = new_client(settings, password, client_id=f"{settings.client_id}-listen")
        self.client.on_message = lambda *_args: self.pacing.woken(self.monotonic())

    def run(self, stop: Stop) -> None:
        """Listen until `stop()` (SIGTERM); reconnects with backoff after a broker outage."""
        stay_connected(self.client, self.settings, what="listen", stop=stop, step=self._step, say=self.say,
                       on_connect=self._subscribe, monotonic=self.monotonic)

    def _subscribe(self, client: paho.Client) -> None:
        client.subscribe(subscriptions(self.settings))
        self.pacing.due = None
        self.pacing.woken(self.monotonic())  # (re)connected: apply what was published while we were away

    def _step(self, now: float) -> None:
        if not self.pacing.ready(now):
            return
        self.pacing.due = None  # a message from now on asks for another tick
        try:
            self.say(f"listen: {self.tick()}")
        finally:
            self.pacing.ticked(self.monotonic())
