"""What a tick publishes after its commit: Home Assistant discovery (when it changed or must be sent
again) and the retained state of the site and every appliance."""

import json
from datetime import datetime

from sqlalchemy import select, update

from models import Appliance, Profile
from reconcile.adapters.mqtt.client import Broker
from reconcile.adapters.mqtt.discovery import cleared, digest, discovery_messages
from reconcile.adapters.mqtt.publish import state_messages
from reconcile.adapters.mqtt.settings import SETTINGS, Settings, reading
from reconcile.planner.domain import Meter
from reconcile.shell.db import transaction, translate_errors
from reconcile.shell.topic_ids import derive


def publish_all(broker: Broker, engine, settings: Settings, home: str | None, now: datetime, reading_: Meter | None,
                *, force_discovery: bool) -> None:
    """Publish, after the tick committed: the discovery configs when they changed or
    `force_discovery` (Home Assistant announced itself, or the broker lost the session), then every
    retained state."""
    with reading(engine, home) as session:
        messages = state_messages(session, settings, now, reading_)
        configs = discovery_messages(settings, _programs(session, settings.home_id))
        published = _published(session, settings.home_id)
    fingerprint = digest(configs)
    if force_discovery or fingerprint != settings.discovery_digest:
        broker.publish(cleared(published, configs) + configs)
        translate_errors(_remember, engine, home, settings.home_id, fingerprint, [t for t, _p, _r in configs])
    broker.publish(messages)


def _remember(engine, home, home_id: int, fingerprint: str, topics: list[str]) -> None:
    with transaction(engine, home=home) as session:
        session.execute(update(SETTINGS).where(SETTINGS.c.home_id == home_id).values(
            discovery_digest=fingerprint, discovery_topics=topics))


def _published(session, home_id: int) -> tuple[str, ...]:
    """The discovery config topics the last published discovery held (`discovery_topics`: JSON, a
    list on PostgreSQL, text or a list on SQLite); anything else reads as none."""
    stored = session.execute(select(SETTINGS.c.discovery_topics).where(SETTINGS.c.home_id == home_id)).scalar()
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            return ()
    return tuple(t for t in stored if isinstance(t, str)) if isinstance(stored, list) else ()


def _programs(session, home_id: int) -> dict[str, tuple[str, list[str]]]:
    """Appliance name -> (its topic id, its programs by name)."""
    programs: dict[str, tuple[str, list[str]]] = {}
    for appliance, topic_id, program in session.execute(select(Appliance.name, Appliance.topic_id, Profile.name)
            .outerjoin(Profile, Profile.appliance_id == Appliance.id).where(Appliance.home_id == home_id)
            .order_by(Appliance.name, Profile.name)):
        entry = programs.setdefault(appliance, (topic_id or derive(appliance), []))
        if program is not None:
            entry[1].append(program)
    return programs
