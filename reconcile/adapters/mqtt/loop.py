"""The one loop of wattplan's long-running MQTT processes (`listen`, `guard`): stay connected, react.

`stay_connected` connects a paho client, drives its network in the calling thread (no paho
thread: the callbacks and `step` run one at a time, so they share nothing that needs a lock) and
calls `step(now)` between network rounds. A broker outage, a refused CONNECT or a lost connection
is said once on stderr (the journal) and retried with a doubling backoff (1 s up to 30 s), reset
to 1 s by the next accepted CONNECT. A broker address that can never work (a 300-character host name, a
label IDNA refuses) is a `ReconcileError`: one line, exit 1, and the unit does not restart on it.

The processes keep nothing the tick could not rebuild: `on_connect` is where each forgets what it
saw on the connection before (the guard its readings, the listener its pending wake).
"""

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as paho

from reconcile.adapters.mqtt.connect import refusal
from reconcile.adapters.mqtt.settings import Settings
from reconcile.errors import ReconcileError

FIRST_RETRY_S, LAST_RETRY_S = 1.0, 30.0
ROUND_S = 0.05  # one network round: how late `step` may see the clock


class Stop:
    """Set by SIGTERM (the command's signal handler) or a test; the loop ends at its next round."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self) -> bool:
        return self.event.is_set()

    def set(self, *_args) -> None:
        self.event.set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)


def stay_connected(client: paho.Client, settings: Settings, *, what: str, stop: Stop, step: Callable[[float], None],
                   say: Callable[[str], None], on_connect: Callable[[paho.Client], None],
                   monotonic: Callable[[], float] = time.monotonic) -> None:
    """Until `stop()`: connect (clean session), call `on_connect` after each accepted CONNECT, loop,
    and reconnect with backoff after any failure. `what` names the process on its lines."""
    state = {"up": False, "said": None}

    def connected(c, _userdata, _flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            return tell(f"the MQTT broker {settings.broker} refused the connection: {refusal(reason_code)}")
        state["up"] = True
        say(f"{what}: connected to {settings.broker}")
        state["said"] = None
        on_connect(c)

    def tell(line: str) -> None:  # said once per kind of failure, not at every retry
        if line != state["said"]:
            say(f"{what}: {line}; retrying")
            state["said"] = line

    client.on_connect = connected
    delay = FIRST_RETRY_S
    while not stop():
        state["up"] = False
        try:
            client.connect(settings.host, settings.port, keepalive=30, clean_start=True)
        except ValueError as error:  # IDNA/UnicodeError: a host name no resolver accepts
            raise ReconcileError(f"the MQTT broker's host name is not valid: {str(error)[:120]}") from None
        except OSError as error:
            tell(f"cannot reach the MQTT broker {settings.broker}: {error.strerror or error}")
        else:
            _rounds(client, stop, step, monotonic)
            if state["up"]:
                delay = FIRST_RETRY_S
                if not stop():
                    tell(f"lost the connection to the MQTT broker {settings.broker}")
        stop.wait(delay)
        delay = min(LAST_RETRY_S, delay * 2)
    if client.is_connected():
        client.disconnect()
        client.loop(ROUND_S)  # send the DISCONNECT: a clean end, no will, no "lost" on the broker's log


def _rounds(client: paho.Client, stop: Stop, step: Callable[[float], None], monotonic: Callable[[], float]) -> None:
    """Network rounds and steps until the connection ends or `stop()`."""
    while not stop():
        if client.loop(ROUND_S) not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_AGAIN):
            return
        step(monotonic())
