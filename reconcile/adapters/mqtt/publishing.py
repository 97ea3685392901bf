"""What a tick publishes after its commit: Home Assistant discovery (when it changed or must be sent
again) and the retained state of the site and every appliance."""

from datetime import datetime

from sqlalchemy import select, update

from models import Appliance, Profile
from reconcile.adapters.mqtt.client import Broker
from reconcile.adapters.mqtt.discovery import digest, discovery_messages
from reconcile.adapters.mqtt.publish import state_messages
from reconcile.adapters.mqtt.settings import SETTINGS, Settings, reading
from reconcile.planner.domain import Meter
from reconcile.shell.db import transaction, translate_errors


def publish_all(broker: Broker, engine, settings: Settings, home: str | None, now: datetime, reading_: Meter | None,
                *, force_discovery: bool) -> None:
    """Publish, after the tick committed: the discovery configs when they changed or
    `force_discovery` (Home Assistant announced itself, or the broker lost the session), then every
    retained state."""
    with reading(engine, home) as session:
        messages = state_messages(session, settings, now, reading_)
        configs = discovery_messages(settings, _programs(session, settings.home_id))
    fingerprint = digest(configs)
    if force_discovery or fingerprint != settings.discovery_digest:
        broker.publish(configs)
        translate_errors(_remember, engine, home, settings.home_id, fingerprint)
    broker.publish(messages)


def _remember(engine, home, home_id: int, fingerprint: str) -> None:
    with transaction(engine, home=home) as session:
        session.execute(update(SETTINGS).where(SETTINGS.c.home_id == home_id).values(discovery_digest=fingerprint))


def _programs(session, home_id: int) -> dict[str, list[str]]:
    programs: dict[str, list[str]] = {}
    for appliance, program in session.execute(select(Appliance.name, Profile.name).outerjoin(
            Profile, Profile.appliance_id == Appliance.id).where(Appliance.home_id == home_id)
            .order_by(Appliance.name, Profile.name)):
        programs.setdefault(appliance, [])
        if program is not None:
            programs[appliance].append(program)
    return programs
