"""MQTT for real installs: topic ids, relays on change, discovery lifecycle, TLS files (issues 18, 19)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:30:00

`appliance.topic_id` (each appliance's MQTT topic level, unique in its home: names that sanitised to
the same level, `a/b` and `a_b`, or 洗濯機 and 乾燥機, shared one topic), `appliance.relay_sent`,
`appliance.default_energy_wh`; `mqttsettings.discovery_topics`, `ca_file`, `cert_file`, `key_file`,
`session_lost_at`. Existing appliances get a topic id from their name, made unique with their id.
Plain ADD COLUMN and CREATE UNIQUE INDEX: SQLite's batch copy-and-move would break the views of 0001.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT = sqlmodel.sql.sqltypes.AutoString


def _backfill_topic_ids() -> None:
    """A topic id per existing appliance: its name's safe characters, lower-cased; the id added
    when that is empty or already taken in the home (a frozen copy of the rule at this revision)."""
    connection = op.get_bind()
    taken: set[tuple[int, str]] = set()
    for row in connection.execute(sa.text("SELECT id, home_id, name FROM appliance ORDER BY id")):
        base = re.sub(r"[^a-z0-9_-]+", "_", row.name.lower()).strip("_")[:40]
        topic_id = base if base and (row.home_id, base) not in taken else f"{base or 'appliance'}-{row.id}"
        taken.add((row.home_id, topic_id))
        connection.execute(sa.text("UPDATE appliance SET topic_id = :t WHERE id = :i"), {"t": topic_id, "i": row.id})


def upgrade() -> None:
    op.add_column('appliance', sa.Column('topic_id', TEXT(), nullable=True))
    op.add_column('appliance', sa.Column('relay_sent', TEXT(), nullable=True))
    op.add_column('appliance', sa.Column('default_energy_wh', sa.Float(), nullable=True))
    _backfill_topic_ids()
    op.create_index('uq_appliance_home_id_topic_id', 'appliance', ['home_id', 'topic_id'], unique=True)
    op.add_column('mqttsettings', sa.Column('discovery_topics', sa.JSON(), nullable=True))
    op.add_column('mqttsettings', sa.Column('ca_file', TEXT(), nullable=True))
    op.add_column('mqttsettings', sa.Column('cert_file', TEXT(), nullable=True))
    op.add_column('mqttsettings', sa.Column('key_file', TEXT(), nullable=True))
    op.add_column('mqttsettings', sa.Column('session_lost_at', models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    for column in ('session_lost_at', 'key_file', 'cert_file', 'ca_file', 'discovery_topics'):
        op.drop_column('mqttsettings', column)  # SQLite 3.35+ drops a column in place
    op.drop_index('uq_appliance_home_id_topic_id', table_name='appliance')
    for column in ('default_energy_wh', 'relay_sent', 'topic_id'):
        op.drop_column('appliance', column)
