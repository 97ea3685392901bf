"""Home Assistant discovery through a real Mosquitto: topics by each appliance's stored topic id
(names that sanitise alike get their own topics), and a removed appliance leaves Home Assistant
(its retained configs are cleared). Every `wattplan` here is a real process; time is `--now`."""

import json

from tests.mqtt_broker import Listener, broker, wait_for  # noqa: F401  (broker: a fixture)
from tests.test_mqtt import T, wattplan


def retained_configs(port: int) -> dict[str, dict]:
    """What a subscriber connecting now is given: the retained, non-empty discovery configs."""
    fresh = Listener(port, "homeassistant/#")
    try:
        seen = wait_for(lambda: dict(fresh.messages) or None, what="the retained configs")
        return {t: json.loads(p) for t, p in seen.items() if t.endswith("/config") and p}
    finally:
        fresh.close()


def test_names_that_sanitise_alike_get_their_own_topics_and_unique_ids(tmp_path, broker) -> None:  # noqa: F811
    db = tmp_path / "w.db"
    wattplan(db, "init", "--limit", "4.6kW", "--timezone", "UTC")
    names = ("a/b", "a+b", "a_b", "洗濯機", "乾燥機")
    for name in names:
        wattplan(db, "appliance", "add", name)
        wattplan(db, "profile", "add", name, "eco", "--power", "1kW", "--duration", "30m")
    wattplan(db, "mqtt", "set", "--broker", broker.url)
    wattplan(db, "tick", "--now", T.format(0))
    configs = retained_configs(broker.port)
    should_run = [c for t, c in configs.items() if t.endswith("/should_run/config")]
    assert sorted(c["device"]["name"] for c in should_run) == sorted(names)
    assert len({c["state_topic"] for c in should_run}) == len(names)  # on main: 3 shared wattplan/a_b/state
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    presses = [c["command_topic"] for t, c in configs.items() if t.endswith("/request_eco/config")]
    assert len(set(presses)) == len(names)


def test_a_removed_appliance_leaves_home_assistant(tmp_path, broker) -> None:  # noqa: F811
    db = tmp_path / "w.db"
    wattplan(db, "init", "--limit", "4.6kW", "--timezone", "UTC")
    for name in ("washer", "dryer"):
        wattplan(db, "appliance", "add", name)
        wattplan(db, "profile", "add", name, "eco", "--power", "1kW", "--duration", "30m")
    wattplan(db, "mqtt", "set", "--broker", broker.url)
    wattplan(db, "tick", "--now", T.format(0))
    before = retained_configs(broker.port)
    dryer = {t for t, c in before.items() if c.get("device", {}).get("name") == "dryer"}
    assert dryer
    wattplan(db, "appliance", "remove", "dryer")
    wattplan(db, "tick", "--now", T.format(1))
    after = retained_configs(broker.port)
    assert not dryer & set(after)  # on main: the dryer's 8 entities stayed
    assert set(after) == set(before) - dryer
