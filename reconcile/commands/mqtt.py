"""MQTT and Home Assistant: `mqtt set|show|off|rejected`, `guard`, and the
tick's MQTT path (`mqtt_tick`). The adapters (and paho-mqtt) are imported only inside the commands
and only for a home with MQTT configured, so a tick without MQTT costs what it did before.
"""

from typing import Annotated

import typer

from reconcile.commands.base import Json, Panel, clock, command, emit, home_name, option, say, seconds, session
from reconcile.errors import ExitStatus, ReconcileError

PANEL = Panel("MQTT and Home Assistant")
mqtt_app = PANEL.group("mqtt", help="Connect the tick to an MQTT broker and Home Assistant.")


def _file(help: str):
    return Annotated[str | None, option("FILE", help, "none")]


@command(mqtt_app, "set")
def mqtt_set(
    broker: Annotated[str | None, option("URL", "mqtt://HOST:PORT, mqtts://HOST:PORT for TLS, mqtt://[::1]:1883 "
                                                "for IPv6; mqtt:// keeps TLS as it is.")] = None,
    username: Annotated[str | None, option("USER", "The broker's user name (\"\": none).")] = None,
    password_file: _file("A file holding the password (first line); it is read at each tick, never stored.") = None,
    tls: Annotated[bool | None, typer.Option("--tls/--no-tls", help=(
        "Connect with TLS, or without (--no-tls); not given: as it is.") , show_default=False)] = None,
    ca_file: _file("TLS: the CA certificates (PEM) that sign the broker's; none: the system's.") = None,
    cert_file: _file("TLS: a client certificate (PEM; its key in it or in --key-file); none: no certificate.") = None,
    key_file: _file("TLS: the client certificate's unencrypted key (PEM).") = None,
    prefix: Annotated[str | None, option("TOPIC", "Topic prefix of wattplan's topics.", "wattplan")] = None,
    discovery_prefix: Annotated[str | None, option("TOPIC", "Home Assistant's discovery prefix.",
                                                   "homeassistant")] = None,
    meter_topic: Annotated[str | None, option("TOPIC", "Topic of the household's grid import; none: no meter.",
                                              "none")] = None,
    meter_key: Annotated[str | None, option("JSON_KEY", "The power's key in a JSON payload (dotted: "
                                                        "ENERGY.Power).", "a plain number")] = None,
    meter_unit: Annotated[str | None, option("W|kW", "The meter's unit.", "W")] = None,
    meter_max_age: Annotated[str | None, option("DURATION", "Older readings are unknown.", "60s")] = None,
) -> None:
    """Set up (or change) how the tick talks to the MQTT broker; only the options given change."""
    from reconcile.adapters.mqtt import settings

    changes = _changes(password_file, ca_file, cert_file, key_file)
    if broker is not None:
        changes["broker"] = broker
    if tls is not None:
        changes["tls"] = tls
    if username is not None:
        changes["username"] = username or None
    for name, value, what in (("prefix", prefix, "--prefix"), ("discovery_prefix", discovery_prefix,
                              "--discovery-prefix")):
        if value is not None:
            changes[name] = settings.check_topic(value, what)
    if meter_topic is not None:
        changes["meter_topic"] = None if meter_topic == "none" else settings.check_topic(meter_topic, "--meter-topic")
    if meter_key is not None:
        changes["meter_key"] = meter_key or None
    if meter_unit is not None:
        if meter_unit not in ("W", "kW"):
            raise ReconcileError("--meter-unit must be W or kW")
        changes["meter_unit"] = meter_unit
    if meter_max_age is not None:
        changes["meter_max_age_s"] = seconds(meter_max_age, "--meter-max-age")
    with session() as s:
        done = settings.configure(s, now=clock(), changes=changes)
    said = f", CA {done.ca_file}" * bool(done.ca_file) + f", certificate {done.cert_file}" * bool(done.cert_file)
    say(f"mqtt: {done.broker} as {done.client_id}, topics under {done.prefix}/{said}")


def _changes(password_file, ca_file, cert_file, key_file) -> dict:
    """The files given, as stored (absolute; none: cleared); the password file read now, so that a
    wrong one is refused in one line here rather than at every tick. TLS files: `configure`."""
    from reconcile.adapters.mqtt import settings, tls_files

    changes = {name: tls_files.stored_path(value) for name, value in (
        ("password_file", password_file), ("ca_file", ca_file), ("cert_file", cert_file), ("key_file", key_file))
        if value is not None}
    if changes.get("password_file"):
        settings.read_password(changes["password_file"])
    return changes


@command(mqtt_app, "show")
def mqtt_show(as_json: Json = False) -> None:
    """Show the MQTT settings (never the password) and the newest meter reading."""
    from reconcile.adapters.mqtt import settings

    with session(write=False) as s:
        found = settings.load(s)
    if found is None:
        return say("mqtt: off (`wattplan mqtt set --broker mqtt://HOST:PORT` turns it on)")
    data = shown(found, clock())
    if as_json:
        return emit(data, True)
    for key, value in data.items():
        say(f"{key}: {'' if value is None else value}")
    if found.session_lost_at is not None:
        say(f"broker lost the session at {found.session_lost_at:%Y-%m-%d %H:%M:%S}Z (commands queued on it "
            "then were lost)")


def shown(found, now) -> dict:
    """The settings as shown: the password file's path, never its content."""
    from dataclasses import asdict

    data = {k: v for k, v in asdict(found).items() if k not in ("home_id", "host", "port", "discovery_digest")}
    age = None if found.meter_at is None else round((now - found.meter_at).total_seconds())
    return {"broker": found.broker, **data, "meter_age_s": age}


@command(mqtt_app, "off")
def mqtt_off() -> None:
    """Stop talking to the broker (the settings are forgotten; received commands stay listed)."""
    from reconcile.adapters.mqtt import settings

    with session() as s:
        was = settings.turn_off(s)
    say("mqtt: off" if was else "mqtt: was already off")


@command(mqtt_app, "rejected")
def mqtt_rejected(as_json: Json = False) -> None:
    """List the commands received over MQTT that were rejected, and why, newest first."""
    from sqlalchemy import select

    from models import MqttCommand
    from reconcile.shell.store import load_home

    with session(write=False) as s:
        rows = s.execute(select(MqttCommand).where(MqttCommand.home_id == load_home(s).id,
                                                   MqttCommand.status == "rejected")
                         .order_by(MqttCommand.id.desc()).limit(200)).scalars().all()
        data = [{"received_at": r.received_at, "topic": r.topic, "reason": r.reason, "payload": r.payload}
                for r in rows]
    if as_json:
        return emit(data, True)
    for row in data or [None]:
        say("no rejected commands" if row is None else
            f"{row['received_at']:%Y-%m-%d %H:%M:%S}Z {row['topic']}: {row['reason']} (payload {row['payload']!r})")


def _configured():
    """(engine, the home's MQTT settings or None, the password or None)."""
    from reconcile.adapters.mqtt import settings

    target = _engine()
    with settings.reading(target, home_name()) as s:
        found = settings.load(s)
    password = settings.read_password(found.password_file) if found and found.password_file else None
    return target, found, password


def _engine():
    from reconcile.commands.base import engine

    return engine(migrated=True)


def any_mqtt(target) -> bool:
    """Whether any home of the database talks MQTT: one cheap query, no adapter imported."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from reconcile.shell.db import READ_ONLY

    try:  # a plain read: never queued behind a writer's lock
        with target.connect().execution_options(**{READ_ONLY: True}) as connection:
            return connection.execute(text("SELECT 1 FROM mqttsettings LIMIT 1")).first() is not None
    except DBAPIError:  # not migrated yet (or not ours): the tick says so in its own words
        return False


def mqtt_tick(target, *, now, ran_at, keep_s, home: str | None = None):
    """The tick of `home` (default: `home_name()`) through the broker when it has MQTT configured, else None."""
    if not any_mqtt(target):
        return None
    home = home if home is not None else home_name()
    from reconcile.adapters.mqtt import settings
    from reconcile.adapters.mqtt.tick import tick_with_mqtt

    with settings.reading(target, home) as s:
        found = settings.load(s)
    if found is None:
        return None
    password, problem = None, None
    try:  # a password file gone or unreadable must not stop the planning: the broker is then unreachable
        password = settings.read_password(found.password_file) if found.password_file else None
    except ReconcileError as error:
        problem = str(error)
    return tick_with_mqtt(engine=target, settings=found, password=password, now=now, ran_at=ran_at,
                          keep_s=keep_s, home=home, unreachable=problem)


def meter_line(s, now) -> str | None:
    """`status`'s line about the MQTT meter: its reading and age, None without a meter."""
    from sqlalchemy import select

    from models import MqttSettings
    from reconcile.shell.store import load_home

    found = s.execute(select(MqttSettings.meter_topic, MqttSettings.meter_w, MqttSettings.meter_at,
                             MqttSettings.meter_max_age_s).where(MqttSettings.home_id == load_home(s).id)).first()
    if found is None or found.meter_topic is None:
        return None
    if found.meter_at is None:
        return f"meter: no reading yet from {found.meter_topic}: nothing new starts"
    age = round((now - found.meter_at).total_seconds())
    verdict = "fresh" if age <= found.meter_max_age_s else f"stale (over {found.meter_max_age_s}s): nothing new starts"
    return f"meter: {found.meter_w:.0f} W import, {age}s old, {verdict}"


def broker_failed(report) -> None:
    """Exit 6 (after the tick's line: it committed) when the broker could not be reached."""
    if report.broker_problem:
        raise typer.Exit(ExitStatus.BROKER)
