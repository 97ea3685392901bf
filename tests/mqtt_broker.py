"""A real Mosquitto broker on a free loopback port, and a Home Assistant-like client, for the MQTT tests.

`broker` starts `mosquitto -c CONFIG` (anonymous, loopback only, persistence in tmp_path so a
persistent session's queued messages are real) through the `reaper`, so it dies with its test
also when the test fails. Without mosquitto: the test fails under CI (the `CI` variable), else skips.
"""

import json
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)


def wait_for(condition, timeout_s: float = 30.0, what: str = "a condition"):
    """Poll `condition` until it returns something truthy (returned) or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    port: int
    url: str


@pytest.fixture
def broker(tmp_path, reaper) -> Broker:
    if MOSQUITTO is None:
        if os.environ.get("CI"):
            pytest.fail("mosquitto is not installed (tests/install-servers.sh installs it)")
        pytest.skip("mosquitto is not installed (tests/install-servers.sh installs it)")
    port = free_port()
    data = tmp_path / "mosquitto"
    data.mkdir()
    config = data / "mosquitto.conf"
    # As root, mosquitto would switch to the user `mosquitto`, who may not write in tmp_path.
    user = "user root\n" if os.geteuid() == 0 else ""
    config.write_text(f"{user}listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                      f"persistence_location {data}/\nlog_dest file {data}/log\nlog_type all\n")
    reaper.popen([MOSQUITTO, "-c", str(config)], stdout=open(os.devnull, "w"), stderr=open(data / "stderr", "w"))

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(listening, what="mosquitto to listen")
    return Broker(port, f"mqtt://127.0.0.1:{port}")


class Listener:
    """An MQTT client that records the newest message on every topic (retained ones included), and
    publishes as Home Assistant does."""

    def __init__(self, port: int, *topics: str) -> None:
        self.messages: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"listener-{time.monotonic_ns()}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *_a: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(30), "the listener could not subscribe"

    def _on_message(self, _client, _userdata, msg) -> None:
        with self.lock:
            self.messages[msg.topic] = bytes(msg.payload)

    def get(self, topic: str) -> bytes | None:
        with self.lock:
            return self.messages.get(topic)

    def json(self, topic: str):
        payload = self.get(topic)
        return None if payload is None else json.loads(payload)

    def publish(self, topic: str, payload, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(30)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
