"""MQTT and Home Assistant: broker settings, commands, rejected commands, relays, meter (issue 12)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:30:00

`mqttsettings` (one row per home that talks to a broker, with the newest meter reading),
`mqttcommand` (commands received: applied ones by id so none is applied twice, rejected ones for
people to list) and `appliance.relay`. Plain CREATE TABLE / ADD COLUMN: SQLite's batch
copy-and-move would break the views of 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT = sqlmodel.sql.sqltypes.AutoString


def _home_id(table: str) -> sa.Column:
    return sa.Column('home_id', sa.Integer(), sa.ForeignKey(
        'home.id', ondelete='CASCADE', name=f'fk_{table}_home_id_home'), nullable=False)


def upgrade() -> None:
    op.add_column('appliance', sa.Column('relay', TEXT(), nullable=True))
    op.create_table(
        'mqttsettings',
        sa.Column('id', sa.Integer(), nullable=False),
        _home_id('mqttsettings'),
        sa.Column('broker', TEXT(), nullable=False),
        sa.Column('username', TEXT(), nullable=True),
        sa.Column('password_file', TEXT(), nullable=True),
        sa.Column('tls', sa.Boolean(), nullable=False),
        sa.Column('client_id', TEXT(), nullable=False),
        sa.Column('prefix', TEXT(), nullable=False),
        sa.Column('discovery_prefix', TEXT(), nullable=False),
        sa.Column('meter_topic', TEXT(), nullable=True),
        sa.Column('meter_key', TEXT(), nullable=True),
        sa.Column('meter_unit', TEXT(), nullable=False),
        sa.Column('meter_max_age_s', sa.Integer(), nullable=False),
        sa.Column('meter_w', sa.Float(), nullable=True),
        sa.Column('meter_at', models.UTCDateTime(), nullable=True),
        sa.Column('discovery_digest', TEXT(), nullable=True),
        sa.Column('updated_at', models.UTCDateTime(), nullable=False),
        sa.CheckConstraint("meter_unit IN ('W', 'kW')", name=op.f('ck_mqttsettings_meter_unit_known')),
        sa.CheckConstraint('meter_max_age_s > 0', name=op.f('ck_mqttsettings_meter_max_age_positive')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mqttsettings')),
        sa.UniqueConstraint('home_id', name=op.f('uq_mqttsettings_home_id')),
    )
    op.create_table(
        'mqttcommand',
        sa.Column('id', sa.Integer(), nullable=False),
        _home_id('mqttcommand'),
        sa.Column('received_at', models.UTCDateTime(), nullable=False),
        sa.Column('topic', TEXT(), nullable=False),
        sa.Column('command_id', TEXT(), nullable=True),
        sa.Column('status', TEXT(), nullable=False),
        sa.Column('reason', TEXT(), nullable=False),
        sa.Column('execution_id', sa.Integer(), nullable=True),
        sa.Column('payload', TEXT(), nullable=False),
        sa.CheckConstraint("status IN ('applied', 'rejected')", name=op.f('ck_mqttcommand_status_known')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mqttcommand')),
    )
    op.create_index(op.f('ix_mqttcommand_home_id'), 'mqttcommand', ['home_id'], unique=False)
    op.create_index('ix_mqttcommand_home_id_command_id', 'mqttcommand', ['home_id', 'command_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_mqttcommand_home_id_command_id', table_name='mqttcommand')
    op.drop_index(op.f('ix_mqttcommand_home_id'), table_name='mqttcommand')
    op.drop_table('mqttcommand')
    op.drop_table('mqttsettings')
    op.drop_column('appliance', 'relay')  # SQLite 3.35+ drops a column in place
