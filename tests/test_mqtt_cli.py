"""`wattplan mqtt set|show|off|rejected` and `appliance set --relay`: settings stored per home, bad
options refused in one line with exit 1, secrets never printed. No broker needed here."""

import json

from tests.cli_home import error, rows, wattplan

SECRET = "s3cr3t-Pa55"


def test_settings_are_stored_shown_without_the_password_and_turned_off(washer, tmp_path) -> None:
    assert wattplan("mqtt", "show").stdout == "mqtt: off (`wattplan mqtt set --broker mqtt://HOST:PORT` turns it on)\n"
    secret = tmp_path / "password"
    secret.write_text(SECRET + "\n")
    said = wattplan("mqtt", "set", "--broker", "mqtt://broker.lan", "--username", "wattplan", "--password-file",
                    str(secret), "--meter-topic", "tele/meter/SENSOR", "--meter-key", "ENERGY.Power",
                    "--meter-unit", "kW", "--meter-max-age", "2m").stdout
    assert said.startswith("mqtt: mqtt://broker.lan:1883 as wattplan-")
    shown = json.loads(wattplan("mqtt", "show", "--json").stdout)
    assert {k: shown[k] for k in ("broker", "username", "password_file", "tls", "prefix", "discovery_prefix",
                                  "meter_topic", "meter_key", "meter_unit", "meter_max_age_s")} == {
        "broker": "mqtt://broker.lan:1883", "username": "wattplan", "password_file": str(secret), "tls": False,
        "prefix": "wattplan", "discovery_prefix": "homeassistant", "meter_topic": "tele/meter/SENSOR",
        "meter_key": "ENERGY.Power", "meter_unit": "kW", "meter_max_age_s": 120}
    client_id = shown["client_id"]
    wattplan("mqtt", "set", "--broker", "mqtts://broker.lan", "--prefix", "house")  # only what is given changes
    shown = json.loads(wattplan("mqtt", "show", "--json").stdout)
    assert (shown["broker"], shown["tls"], shown["prefix"], shown["client_id"], shown["meter_unit"]) == (
        "mqtts://broker.lan:8883", True, "house", client_id, "kW")
    assert SECRET not in wattplan("mqtt", "show").stdout
    assert all(SECRET not in str(row) for row in rows(washer, "SELECT * FROM mqttsettings"))
    assert wattplan("mqtt", "off").stdout == "mqtt: off\n"
    assert wattplan("mqtt", "off").stdout == "mqtt: was already off\n"


def test_bad_options_are_one_line_and_never_echo_a_secret(washer, tmp_path) -> None:
    said = error("mqtt", "set", "--broker", f"mqtt://me:{SECRET}@broker.lan:1883")
    assert SECRET not in said and said.startswith("error: --broker must be mqtt://HOST[:PORT]")
    assert error("mqtt", "set", "--broker", "http://broker.lan").startswith("error: --broker must be")
    assert error("mqtt", "set", "--broker", "mqtt://broker.lan:99999") == (
        "error: --broker's port must be between 1 and 65535\n")
    assert error("mqtt", "set", "--prefix", "x").startswith("error: MQTT is not set up for this home yet")
    missing = tmp_path / "nope"
    assert error("mqtt", "set", "--broker", "mqtt://b", "--password-file", str(missing)) == (
        f"error: cannot read the MQTT password file {missing}: No such file or directory\n")
    unreadable = tmp_path / "dir"
    unreadable.mkdir()
    assert error("mqtt", "set", "--broker", "mqtt://b", "--password-file", str(unreadable)).endswith(
        "not a regular file\n")
    empty = tmp_path / "empty"
    empty.write_text("")
    assert error("mqtt", "set", "--broker", "mqtt://b", "--password-file", str(empty)) == (
        f"error: the MQTT password file {empty} is empty\n")
    assert error("mqtt", "set", "--broker", "mqtt://b", "--prefix", "a/#").startswith(
        "error: --prefix 'a/#' holds a wildcard (+ or #)")
    assert error("mqtt", "set", "--broker", "mqtt://b", "--meter-unit", "MW") == "error: --meter-unit must be W or kW\n"
    assert error("mqtt", "set", "--broker", "mqtt://b", "--meter-max-age", "soon").startswith("error: --meter-max-age")
    assert rows(washer, "SELECT count(*) FROM mqttsettings") == [(0,)]  # nothing half-written


def test_a_relay_is_set_checked_and_removed(washer) -> None:
    assert wattplan("appliance", "set", "washer", "--relay", "shelly:shellyplus1pm-a8032ab1").stdout == (
        "washer: relay shelly:shellyplus1pm-a8032ab1\n")
    assert rows(washer, "SELECT relay FROM appliance") == [("shelly:shellyplus1pm-a8032ab1",)]
    for bad in ("zigbee:plug", "mqtt:a/b:ON", "tasmota:", "tasmota:a/#"):
        assert error("appliance", "set", "washer", "--relay", bad).startswith("error: --relay must be")
    assert error("appliance", "set", "dryer", "--relay", "tasmota:x").startswith("error: unknown appliance")
    wattplan("appliance", "set", "washer", "--relay", "none")
    assert rows(washer, "SELECT relay FROM appliance") == [(None,)]


def test_no_rejected_commands_yet(washer) -> None:
    assert wattplan("mqtt", "rejected").stdout == "no rejected commands\n"
    assert wattplan("mqtt", "rejected", "--json").stdout == "[]\n"


def test_a_tick_without_mqtt_never_imports_paho_or_the_adapters(washer) -> None:
    import subprocess
    import sys

    probe = ("import sys, cli\nsys.argv = ['wattplan', '--db', sys.argv[1], 'tick', '--now', '2026-06-30T08:00']\n"
             "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith(('paho', 'reconcile.adapters'))))")
    done = subprocess.run([sys.executable, "-c", probe, str(washer)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_two_homes_may_not_share_a_prefix_on_one_broker(washer) -> None:
    wattplan("--home", "beach", "init", "--limit", "3kW", "--timezone", "Europe/Lisbon")
    wattplan("--home", "home", "mqtt", "set", "--broker", "mqtt://broker.lan")
    assert error("--home", "beach", "mqtt", "set", "--broker", "mqtt://broker.lan") == (
        "error: home 'home' already uses the prefix 'wattplan' on mqtt://broker.lan:1883: give this home its own "
        "--prefix\n")
    wattplan("--home", "beach", "mqtt", "set", "--broker", "mqtt://broker.lan", "--prefix", "beach")
