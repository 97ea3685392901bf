"""A home's broker settings (`wattplan mqtt set|show|off`), stored in `mqttsettings`.

The password is never stored, printed or put in an error: only the path of a file holding it,
read when the tick connects.
"""

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlmodel import Session

from models import Home, MqttSettings
from reconcile.errors import ReconcileError
from reconcile.shell.db import transaction_on
from reconcile.shell.store import load_home
from reconcile.shell.textfile import read_text

SETTINGS = MqttSettings.__table__
BROKER_FORM = ("--broker must be mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS), without a user or password: "
               "give those with --username and --password-file")
# A topic level wattplan publishes under: no wildcards, no empty levels, nothing a terminal would act on.
_TOPIC = re.compile(r"[^\s#+\x00-\x1f\x7f]+(/[^\s#+\x00-\x1f\x7f]+)*")


@dataclass(frozen=True, slots=True)
class Settings:
    """What a tick needs to talk to the broker (the password file is read only when connecting)."""

    home_id: int
    home: str
    host: str
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

    @property
    def broker(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@contextmanager
def reading(engine, home: str | None) -> Iterator[Session]:
    """A read transaction that never queues for the write lock (a tick or an enqueue may hold it)."""
    with engine.connect() as connection, transaction_on(connection, write=False, home=home) as session:
        yield session


def parse_broker(url: str, tls: bool) -> tuple[str, int, bool]:
    """(host, port, tls) of `mqtt://HOST:PORT`; credentials in the URL are refused without echoing it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ReconcileError(BROKER_FORM) from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.username or parts.password \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ReconcileError(BROKER_FORM)
    tls = tls or parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls


def check_topic(topic: str, what: str) -> str:
    if len(topic) > 200 or not _TOPIC.fullmatch(topic):
        raise ReconcileError(f"{what} must be an MQTT topic without spaces, + or # (at most 200 characters)")
    return topic


def read_password(path: str) -> str:
    """The first line of the password file (a clear one-line error naming the file, never its text)."""
    text = read_text(Path(path), failure=f"cannot read the MQTT password file {path}")
    password = text.splitlines()[0] if text else ""
    if not password:
        raise ReconcileError(f"the MQTT password file {path} is empty")
    return password


def configure(session: Session, *, now: datetime, changes: dict) -> Settings:
    """Create or change the home's MQTT settings; the client id is made once and kept."""
    home = load_home(session)
    row = session.execute(select(MqttSettings).where(MqttSettings.home_id == home.id)).scalar_one_or_none()
    if row is None:
        if "broker" not in changes:
            raise ReconcileError("MQTT is not set up for this home yet: give --broker mqtt://HOST:PORT")
        row = MqttSettings(home_id=home.id, client_id=f"wattplan-{secrets.token_hex(6)}", broker="", updated_at=now)
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = now
    row.discovery_digest = None  # the entities may have changed: publish discovery again
    session.flush()
    _check_prefix_free(session, row)
    return load(session)


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


def from_row(row, home_name: str) -> Settings:
    host, port, tls = parse_broker(row.broker, row.tls)
    return Settings(row.home_id, home_name, host, port, tls, row.username, row.password_file, row.client_id,
                    row.prefix, row.discovery_prefix, row.meter_topic, row.meter_key, row.meter_unit,
                    row.meter_max_age_s, row.meter_w, row.meter_at, row.discovery_digest)


def turn_off(session: Session) -> bool:
    """Forget the home's MQTT settings (the commands log stays); False when there were none."""
    home = load_home(session)
    return session.execute(delete(SETTINGS).where(SETTINGS.c.home_id == home.id)).rowcount > 0
