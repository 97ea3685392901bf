"""modulating appliances: power ranges, energy requests and setpoints (issue 11)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:30:00

An appliance with `max_power_w` modulates (an EV charger: any power in [min_power_w,
max_power_w], in steps of `power_step_w`); its runs ask for `execution.energy_wh` and carry the
setpoint `execution.power_w`; decisions carry the setpoint they set (`decision.power_w`). Plain
ALTER TABLE ADD COLUMN, nullable: SQLite's batch copy-and-move would break the views of 0001,
and SQLite cannot add a CHECK constraint in place, so the ranges are checked where they are
written (`shell.catalog`, `shell.requests`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ('appliance', 'min_power_w'), ('appliance', 'max_power_w'), ('appliance', 'power_step_w'),
    ('execution', 'energy_wh'), ('execution', 'power_w'), ('decision', 'power_w'),
)


def upgrade() -> None:
    for table, column in COLUMNS:
        op.add_column(table, sa.Column(column, sa.Float(), nullable=True))


def downgrade() -> None:
    for table, column in reversed(COLUMNS):
        op.drop_column(table, column)  # SQLite 3.35+ drops a column in place
