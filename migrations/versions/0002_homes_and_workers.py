"""homes and workers: when each home was last ticked; the slot_load view on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:30:00

`home.ticked_at` (the wall clock of the newest tick) is what `wattplan worker` orders homes by:
the home ticked longest ago is claimed first (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL's twin of 0001's SQLite `slot_load`: one row per slot a planned stretch touches, with
# the profile's power at that slot's first second, summed per slot beside the slot's capacity.
SLOT_LOAD_POSTGRESQL = """
    WITH usage AS (
        SELECT t.home_id, s.slot_start,
               (p.watts ->> CAST(floor((t.offset_s + extract(epoch FROM greatest(s.slot_start, t.starts_at)
                   - t.starts_at)) / p.slot_s) AS integer))::float AS watts
        FROM timetableentry t JOIN home h ON h.id = t.home_id
        JOIN execution e ON e.id = t.execution_id JOIN profile p ON p.id = e.profile_id
        CROSS JOIN LATERAL generate_series(
            to_timestamp(floor(extract(epoch FROM t.starts_at) / h.slot_s) * h.slot_s) AT TIME ZONE 'UTC',
            t.ends_at - interval '1 microsecond', make_interval(secs => h.slot_s)) AS s(slot_start)
    )
    SELECT u.home_id, u.slot_start AS slot_start_utc, round(sum(u.watts)::numeric, 1) AS planned_w,
           h.limit_w
             + COALESCE((SELECT f.value FROM forecast f WHERE f.home_id = u.home_id AND f.kind = 'pv'
                 AND f.starts_at <= u.slot_start AND f.ends_at > u.slot_start), 0)
             - COALESCE((SELECT f.value FROM forecast f WHERE f.home_id = u.home_id AND f.kind = 'base'
                 AND f.starts_at <= u.slot_start AND f.ends_at > u.slot_start), h.reserve_w) AS capacity_w
    FROM usage u JOIN home h ON h.id = u.home_id
    GROUP BY u.home_id, u.slot_start, h.limit_w, h.reserve_w
"""


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: SQLite's copy-and-move would break the views over `home`.
    op.add_column('home', sa.Column('ticked_at', models.UTCDateTime(), nullable=True))
    op.create_index(op.f('ix_home_ticked_at'), 'home', ['ticked_at'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE VIEW slot_load AS {SLOT_LOAD_POSTGRESQL}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP VIEW IF EXISTS slot_load")
    op.drop_index(op.f('ix_home_ticked_at'), table_name='home')
    op.drop_column('home', 'ticked_at')  # SQLite 3.35+ drops a column in place
