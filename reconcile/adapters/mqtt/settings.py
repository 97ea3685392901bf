"""A home's broker settings (`wattplan mqtt set|show|off`), stored in `mqttsettings`.

The password is never stored, printed or put in an error: only the path of a file holding it,
read when the tick connects.
"""

import ipaddress
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import delete, select
from sqlmodel import Session

from models import Appliance, Home, MqttSettings
from reconcile.adapters.mqtt import tls_files, topic_rules
from reconcile.errors import ReconcileError
from reconcile.shell.db import transaction_on
from reconcile.shell.store import load_home
from reconcile.shell.textfile import read_text

SETTINGS = MqttSettings.__table__
BROKER_FORM = ("--broker must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS), an IPv6 address in brackets "
               "(mqtt://[::1]:1883), without a user or password: give those with --username and --password-file")
PORT_RANGE = "--broker's port must be between 1 and 65535"
MAX_BROKER = 300
MAX_HOST = 253  # a DNS name's longest (RFC 1035)
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
DEFAULT_PORTS = {False: 1883, True: 8883}
TLS_FILES = {"ca_file", "cert_file", "key_file"}


@dataclass(frozen=True, slots=True)
class Settings:
    """What a tick needs to talk to the broker (the password and TLS files are read only when connecting)."""

    home_id: int
    home: str
    host: str  # a name or an IP address (IPv6 without brackets)
    port: int
    tls: bool
    username: str | None
    password_file: str | None
    client_id: str
    prefix: str
    discovery_prefix: str
    meter_topic: str | None
    meter_key: str | None
    meter_unit: str
    meter_max_age_s: int
    meter_w: float | None = None
    meter_at: datetime | None = None
    discovery_digest: str | None = None
    ca_file: str | None = None  # with TLS: the CA bundle (None: the system's CA certificates)
    cert_file: str | None = None  # with TLS: a client certificate (its key in it, or in key_file)
    key_file: str | None = None
    session_lost_at: datetime | None = None  # the newest tick whose broker had lost the session

    @property
    def broker(self) -> str:
        return broker_url(self.host, self.port, self.tls)


def broker_url(host: str, port: int, tls: bool) -> str:
    """`mqtt://HOST:PORT` (`mqtts://` with TLS), an IPv6 address in brackets."""
    return f"{'mqtts' if tls else 'mqtt'}://{f'[{host}]' if ':' in host else host}:{port}"


@contextmanager
def reading(engine, home: str | None) -> Iterator[Session]:
    """A read transaction that never queues for the write lock (a tick or an enqueue may hold it)."""
    with engine.connect() as connection, transaction_on(connection, write=False, home=home) as session:
        yield session


def parse_broker(url: str) -> tuple[str, int | None, bool]:
    """(host, port or None when not given, whether the scheme is mqtts) of `--broker`; one-line
    errors that never echo the URL (it may hold a password)."""
    if len(url) > MAX_BROKER:
        raise ReconcileError(f"--broker is longer than {MAX_BROKER} characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:  # the URL's text is never quoted: it may hold a password
        raise ReconcileError(PORT_RANGE if "out of range" in str(error) else BROKER_FORM) from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.username or parts.password \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ReconcileError(BROKER_FORM)
    if port is not None and not 1 <= port <= 65535:
        raise ReconcileError(PORT_RANGE)
    return _host(parts), port, parts.scheme == "mqtts"


def _host(parts) -> str:
    """The host: an IP address, or a DNS name of at most 253 characters in labels of letters,
    digits, - and _ (a name with other letters in its punycode form, xn--...)."""
    host = parts.hostname
    if "[" in parts.netloc:
        try:
            return str(ipaddress.IPv6Address(unquote(host)))
        except ValueError:
            raise ReconcileError("--broker's address in brackets is not an IPv6 address") from None
    if len(host) > MAX_HOST:
        raise ReconcileError(f"--broker's host name is {len(host)} characters long, more than {MAX_HOST}")
    if not all(_HOST_LABEL.fullmatch(label) for label in host.removesuffix(".").split(".")):
        raise ReconcileError("--broker's host name must be labels of letters, digits, - and _ (at most 63 "
                             "characters each) joined by dots, or an IP address")
    return host


def check_topic(topic: str, what: str) -> str:
    return topic_rules.check_topic(topic, what)


def read_password(path: str) -> str:
    """The first line of the password file (a clear one-line error naming the file, never its text)."""
    text = read_text(Path(path), failure=f"cannot read the MQTT password file {path}")
    password = text.splitlines()[0] if text else ""
    if not password:
        raise ReconcileError(f"the MQTT password file {path} is empty")
    return password


def configure(session: Session, *, now: datetime, changes: dict) -> Settings:
    """Create or change the home's MQTT settings field by field: the columns in `changes` (None
    there clears an optional one), the broker from `changes["broker"]` (a URL) and
    `changes["tls"]` (True, False; absent: as it is). The client id is made once and kept."""
    home = load_home(session)
    row = session.execute(select(MqttSettings).where(MqttSettings.home_id == home.id)).scalar_one_or_none()
    changes = dict(changes)
    url, tls = changes.pop("broker", None), changes.pop("tls", None)
    if row is None:
        if url is None:
            raise ReconcileError("MQTT is not set up for this home yet: give --broker mqtt://HOST:PORT")
        row = MqttSettings(home_id=home.id, client_id=f"wattplan-{secrets.token_hex(6)}", broker="", updated_at=now)
        session.add(row)
    _change_broker(row, url, tls)
    for name, value in changes.items():
        setattr(row, name, value)
    _check(session, row, files=bool(tls) or bool(TLS_FILES & changes.keys()))
    row.updated_at = now
    row.discovery_digest = None  # the entities may have changed: publish discovery again
    session.flush()
    _check_prefix_free(session, row)
    return load(session)


def _change_broker(row: MqttSettings, url: str | None, tls: bool | None) -> None:
    """TLS: `mqtts://` or --tls turns it on, --no-tls off; `mqtt://` leaves it as it is (so
    `--broker` alone never turns TLS off). A port not given is TLS's default; a default port
    follows TLS when only TLS changes."""
    if url is not None:
        host, port, secure = parse_broker(url)
        if secure and tls is False:
            raise ReconcileError("--no-tls with an mqtts:// broker: give mqtt://HOST[:PORT] --no-tls")
        on = True if secure else row.tls if tls is None else tls
        port = port or DEFAULT_PORTS[on]
    elif tls is not None:
        host, port, _ = _stored(row.broker)
        on = tls
        if port == DEFAULT_PORTS[not on]:
            port = DEFAULT_PORTS[on]
    else:
        return
    row.broker, row.tls = broker_url(host, port, on), on


def _check(session: Session, row: MqttSettings, *, files: bool) -> None:
    """The settings as they will be, whole: TLS files only with TLS (read again when `files`
    changed or TLS turned on), every topic by topic_rules."""
    if not row.tls and (row.ca_file or row.cert_file or row.key_file):
        raise ReconcileError("--ca-file, --cert-file and --key-file are for TLS: give --tls or an mqtts:// broker "
                             "(or drop them: --ca-file none --cert-file none --key-file none)")
    if files:
        tls_files.check(row.ca_file, row.cert_file, row.key_file)
    for what in ("prefix", "discovery_prefix"):
        topic_rules.check_topic(getattr(row, what), "--" + what.replace("_", "-"))
    topic_rules.check_prefixes(row.prefix, row.discovery_prefix)
    if row.meter_topic is not None:
        topic_rules.check_foreign(row.meter_topic, "--meter-topic", row.prefix, row.discovery_prefix)
    relays = session.execute(select(Appliance.name, Appliance.relay).where(
        Appliance.home_id == row.home_id, Appliance.relay.is_not(None)))
    for name, relay in relays:
        try:
            topic_rules.check_relay(relay, row.prefix, row.discovery_prefix)
        except ReconcileError as error:
            raise ReconcileError(f"appliance {name!r}'s relay: {error} (change it with `appliance set "
                                 "--relay`)") from None


def _check_prefix_free(session: Session, row: MqttSettings) -> None:
    """Two homes on one broker under one prefix would both take each other's commands."""
    other = session.execute(select(Home.name).join(MqttSettings, MqttSettings.home_id == Home.id).where(
        MqttSettings.broker == row.broker, MqttSettings.prefix == row.prefix, Home.id != row.home_id)).first()
    if other is not None:
        raise ReconcileError(f"home {other.name!r} already uses the prefix {row.prefix!r} on {row.broker}: "
                             "give this home its own --prefix")


def load(session: Session) -> Settings | None:
    """The chosen home's settings, None when it has no MQTT."""
    home = load_home(session)
    row = session.execute(select(SETTINGS).where(SETTINGS.c.home_id == home.id)).first()
    return None if row is None else from_row(row, home.name)


def _stored(broker: str) -> tuple[str, int, bool]:
    """(host, port, mqtts) of a stored broker URL, as written by `broker_url` (checked when set)."""
    parts = urlsplit(broker)
    return parts.hostname or "", parts.port or DEFAULT_PORTS[parts.scheme == "mqtts"], parts.scheme == "mqtts"


def from_row(row, home_name: str) -> Settings:
    host, port, secure = _stored(row.broker)
    return Settings(row.home_id, home_name, host, port, bool(row.tls or secure), row.username, row.password_file,
                    row.client_id, row.prefix, row.discovery_prefix, row.meter_topic, row.meter_key, row.meter_unit,
                    row.meter_max_age_s, row.meter_w, row.meter_at, row.discovery_digest, row.ca_file,
                    row.cert_file, row.key_file, row.session_lost_at)


def turn_off(session: Session) -> bool:
    """Forget the home's MQTT settings (the commands log stays); False when there were none."""
    home = load_home(session)
    return session.execute(delete(SETTINGS).where(SETTINGS.c.home_id == home.id)).rowcount > 0
