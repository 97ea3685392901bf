"""Relays the tick switches itself (`wattplan appliance set NAME --relay SPEC`): the power of a
plug-switched appliance is cut while its run is paused or over and restored when it runs.

    tasmota:TOPIC          cmnd/TOPIC/POWER  ON | OFF        (Tasmota's default full topic)
    shelly:ID              ID/command/switch:0  on | off    (Shelly Gen2/Gen3 MQTT)
    mqtt:TOPIC:ON:OFF      TOPIC  ON | OFF                   (any device: the two payloads given)

Sent every tick (level-triggered: a relay that missed one is set right a minute later), at QoS 1,
not retained (a device that reconnects hours later must not act on an old command).
"""

from reconcile.errors import ReconcileError

FORMS = "tasmota:TOPIC, shelly:ID or mqtt:TOPIC:ON:OFF"


def parse_relay(spec: str) -> str:
    """`spec` checked (one-line error otherwise) and returned as stored."""
    kind, _, rest = spec.partition(":")
    parts = rest.split(":")
    ok = kind in ("tasmota", "shelly") and len(parts) == 1 or kind == "mqtt" and len(parts) == 3
    if not ok or not all(parts) or any(c in rest for c in "#+ \t\n") or len(spec) > 200:
        raise ReconcileError(f"--relay must be {FORMS} (no spaces, + or #)")
    return spec


def relay_messages(spec: str, on: bool) -> list[tuple[str, bytes, bool]]:
    kind, _, rest = spec.partition(":")
    if kind == "tasmota":
        return [(f"cmnd/{rest}/POWER", b"ON" if on else b"OFF", False)]
    if kind == "shelly":
        return [(f"{rest}/command/switch:0", b"on" if on else b"off", False)]
    topic, payload_on, payload_off = rest.split(":")
    return [(topic, (payload_on if on else payload_off).encode(), False)]
