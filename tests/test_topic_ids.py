"""Each appliance's stored MQTT topic id (issue 19, item 3): unique in the home, made from the name
once (names that sanitise alike, and non-Latin names, stay distinct), shown and settable."""

import json

from tests.cli_home import error, rows, wattplan

NAMES = ("a/b", "a+b", "a#b", "a_b", "洗濯機", "乾燥機", "Waschküche")


def test_names_that_sanitise_alike_get_distinct_topic_ids(home) -> None:
    for name in NAMES:
        wattplan("appliance", "add", name)
    ids = dict(rows(home, "SELECT name, topic_id FROM appliance"))
    assert len(set(ids.values())) == len(NAMES)
    assert ids["洗濯機"] == "xn--newx1do6c" and ids["a/b"] == "a_b"
    shown = json.loads(wattplan("appliance", "show", "乾燥機", "--json").stdout)
    assert shown["topic_id"] == ids["乾燥機"]


def test_a_topic_id_is_set_checked_and_kept_unique(home) -> None:
    wattplan("appliance", "add", "washer", "--topic-id", "laundry")
    wattplan("appliance", "add", "dryer")
    assert "belongs to appliance 'washer'" in error("appliance", "set", "dryer", "--topic-id", "laundry")
    assert "topic id" in error("appliance", "set", "dryer", "--topic-id", "a/b")
    assert "topic id" in error("appliance", "set", "dryer", "--topic-id", "-x")
    wattplan("appliance", "set", "dryer", "--topic-id", "tumble-dryer")
    assert dict(rows(home, "SELECT name, topic_id FROM appliance")) == {"washer": "laundry", "dryer": "tumble-dryer"}


def test_a_default_energy_is_for_modulating_appliances_only(home) -> None:
    wattplan("appliance", "add", "ev", "--min-power", "1.4kW", "--max-power", "3.7kW")
    wattplan("appliance", "add", "washer")
    wattplan("appliance", "set", "ev", "--default-energy", "20kWh")
    assert rows(home, "SELECT default_energy_wh FROM appliance WHERE name = 'ev'") == [(20000.0,)]
    error("appliance", "set", "washer", "--default-energy", "2kWh")
