"""readings: an index on ts instead of (source, ts); the message keys table is pruned by ts

Revision ID: 0004
Revises: 0003

Every index on readings is written at every commit, and (source, ts) was the
costliest (a page per device per commit, bench/hl7_ingest.py) while serving only
diagnostics. ts alone grows at its end (cheap) and serves the queries by time
across devices (the screens' state after a restart).
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_index("ix_readings_source_ts")
        batch_op.create_index("ix_readings_ts", ["ts"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_index("ix_readings_ts")
        batch_op.create_index("ix_readings_source_ts", ["source", "ts"], unique=False)
