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

The `slot_load` view counts a modulating run's stretch at its setpoint (`timetableentry.peak_w`:
one stretch is one setpoint), not at its program's curve (a modulating appliance's program,
`charge`, only names its maximum power): the view is dropped and created again, on SQLite and
PostgreSQL, from 0001's and 0002's text with that one change.
"""

import importlib
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




def _slot_load(*, setpoints: bool) -> str:
    """The `slot_load` view's body for this database, counting setpoints or (as before) not."""
    if op.get_bind().dialect.name == "postgresql":
        body = importlib.import_module("migrations.versions.0002_homes_and_workers").SLOT_LOAD_POSTGRESQL
        curve = "(p.watts ->> CAST(floor((t.offset_s + extract(epoch FROM greatest(s.slot_start, t.starts_at)\n" \
                "                   - t.starts_at)) / p.slot_s) AS integer))::float"
        assert curve in body
        return body.replace(curve, f"CASE WHEN e.energy_wh IS NOT NULL THEN t.peak_w ELSE {curve} END") \
            if setpoints else body
    body = importlib.import_module("migrations.versions.0001_initial_schema").SLOT_LOAD_SQLITE
    if not setpoints:
        return body
    changes = (  # each stretch carries its peak_w (its setpoint when modulating) to the usage
        ("offset_s, slot_start) AS (", "offset_s, slot_start, peak_w) AS ("),
        ("(CAST(strftime('%s', t.starts_at) AS INTEGER) / h.slot_s) * h.slot_s\n",
         "(CAST(strftime('%s', t.starts_at) AS INTEGER) / h.slot_s) * h.slot_s, t.peak_w\n"),
        ("offset_s, slot_start + slot_s\n", "offset_s, slot_start + slot_s, peak_w\n"),
        ("json_extract(p.watts,", "CASE WHEN e.energy_wh IS NOT NULL THEN s.peak_w ELSE json_extract(p.watts,"),
        ("AS INTEGER) || ']') AS watts", "AS INTEGER) || ']') END AS watts"),
    )
    for old, new in changes:
        assert body.count(old) == 1, old
        body = body.replace(old, new)
    return body


def upgrade() -> None:
    for table, column in COLUMNS:
        op.add_column(table, sa.Column(column, sa.Float(), nullable=True))
    op.execute("DROP VIEW IF EXISTS slot_load")
    op.execute(f"CREATE VIEW slot_load AS {_slot_load(setpoints=True)}")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS slot_load")  # before its column goes: it reads execution.energy_wh
    for table, column in reversed(COLUMNS):
        op.drop_column(table, column)  # SQLite 3.35+ drops a column in place
    op.execute(f"CREATE VIEW slot_load AS {_slot_load(setpoints=False)}")
