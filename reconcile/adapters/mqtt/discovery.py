"""Home Assistant MQTT discovery: a device per appliance and one for the site, with only keys
Home Assistant documents (https://www.home-assistant.io/integrations/mqtt/, the binary_sensor,
sensor and button platforms). Retained; published again when the entities change or Home
Assistant announces itself (`<discovery prefix>/status` = `online`).

Entities expire (`expire_after`) when no tick has refreshed them for three minutes, and are
unavailable while `<prefix>/status` is `offline`.
"""

import hashlib

from reconcile.adapters.mqtt.settings import Settings
from reconcile.adapters.mqtt.topics import dumps, segment

EXPIRE_AFTER_S = 180  # three tick periods
ORIGIN = {"name": "wattplan"}


def discovery_messages(settings: Settings, appliances: dict[str, tuple[str, list[str]]]
                       ) -> list[tuple[str, bytes, bool]]:
    """(topic, config, retain) for every entity; `appliances`: name -> (its topic id, its programs)."""
    site_id = f"wattplan_{segment(settings.home)}"
    configs = [_site_entity(settings, site_id, key, name, unit)
               for key, name, unit in (("limit_w", "Limit", "W"), ("capacity_now_w", "Capacity now", "W"),
                                       ("planned_w", "Planned load", "W"), ("import_w", "Grid import", "W"),
                                       ("last_tick", "Last tick", None))]
    for appliance, (topic_id, programs) in sorted(appliances.items()):
        configs += _appliance_entities(settings, site_id, appliance, topic_id, programs)
    return [(topic, dumps(config), True) for topic, config in configs]


def digest(messages: list[tuple[str, bytes, bool]]) -> str:
    return hashlib.sha256(b"\n".join(t.encode() + b"\0" + p for t, p, _r in messages)).hexdigest()


def _template(expression: str) -> str:
    """A Jinja value template; 'None' is Home Assistant's payload for an unknown value."""
    return "{{ " + expression + " }}"


def _availability(settings: Settings) -> dict:
    return {"availability_topic": f"{settings.prefix}/status", "payload_available": "online",
            "payload_not_available": "offline"}


def _site_entity(settings: Settings, site_id: str, key: str, name: str, unit: str | None) -> tuple[str, dict]:
    config = {"name": name, "unique_id": f"{site_id}_{key}", "state_topic": f"{settings.prefix}/site",
              "value_template": _template(f"value_json.{key} if value_json.{key} is not none else 'None'"),
              "device": {"identifiers": [site_id], "name": f"wattplan {settings.home}", "manufacturer": "wattplan",
                         "model": "site"}, "origin": ORIGIN, "expire_after": EXPIRE_AFTER_S,
              **_availability(settings)}
    if unit:
        config.update(unit_of_measurement=unit, device_class="power", state_class="measurement")
    else:
        config["device_class"] = "timestamp"
    return f"{settings.discovery_prefix}/sensor/{site_id}/{key}/config", config


def cleared(previous: tuple[str, ...], configs: list[tuple[str, bytes, bool]]) -> list[tuple[str, bytes, bool]]:
    """An empty retained config for each topic published before and no longer: Home Assistant
    removes the entity (and a device left without entities), so a removed appliance or program
    leaves Home Assistant."""
    now_published = {topic for topic, _payload, _retain in configs}
    return [(topic, b"", True) for topic in previous if topic not in now_published]


def _appliance_entities(settings: Settings, site_id: str, appliance: str, level: str,
                        programs: list[str]) -> list[tuple]:
    """The entities of one appliance; `level` is its stored topic id (`shell.topic_ids`): unique in
    the home, so two names that sanitise alike (`a/b`, `a_b`) never share topics or unique ids."""
    device_id = f"{site_id}_{level}"
    base = f"{settings.prefix}/{level}"
    device = {"identifiers": [device_id], "name": appliance, "manufacturer": "wattplan", "model": "appliance",
              "via_device": site_id}
    shared = {"device": device, "origin": ORIGIN, **_availability(settings)}
    state = {"state_topic": f"{base}/state", "expire_after": EXPIRE_AFTER_S, **shared}
    prefix = settings.discovery_prefix
    entities = [
        (f"{prefix}/binary_sensor/{device_id}/should_run/config",
         {"name": "Should run", "unique_id": f"{device_id}_should_run", "device_class": "power",
          "value_template": "{{ 'ON' if value_json.should_run else 'OFF' }}", "payload_on": "ON",
          "payload_off": "OFF", "json_attributes_topic": f"{base}/state", **state}),
        (f"{prefix}/sensor/{device_id}/status/config",
         {"name": "Status", "unique_id": f"{device_id}_status", "value_template": "{{ value_json.status }}",
          **state}),
        (f"{prefix}/sensor/{device_id}/power_setpoint/config",
         {"name": "Power setpoint", "unique_id": f"{device_id}_power_setpoint", "device_class": "power",
          "unit_of_measurement": "W", "state_class": "measurement",
          "value_template": "{{ value_json.power_w }}", **state}),
    ]
    for key, name in (("planned_start", "Planned start"), ("planned_end", "Planned end")):
        entities.append((f"{prefix}/sensor/{device_id}/{key}/config", {
            "name": name, "unique_id": f"{device_id}_{key}", "device_class": "timestamp",
            "value_template": _template(f"value_json.{key} if value_json.{key} else 'None'"), **state}))
    for program in programs:  # QoS 1: the broker keeps a press for the next tick
        entities.append((f"{prefix}/button/{device_id}/request_{segment(program)}/config", {
            "name": f"Request {program}", "unique_id": f"{device_id}_request_{segment(program)}",
            "command_topic": f"{base}/request/set", "payload_press": program, "qos": 1, "retain": False,
            **shared}))
    entities.append((f"{prefix}/button/{device_id}/cancel/config", {
        "name": "Cancel", "unique_id": f"{device_id}_cancel", "command_topic": f"{base}/cancel/set",
        "payload_press": "{}", "qos": 1, "retain": False, **shared}))
    entities.append((f"{prefix}/button/{device_id}/done/config", {
        "name": "Done", "unique_id": f"{device_id}_done", "command_topic": f"{base}/done/set",
        "payload_press": "{}", "qos": 1, "retain": False, **shared}))
    return entities
