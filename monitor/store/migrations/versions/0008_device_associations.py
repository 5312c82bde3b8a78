"""device_associations: monitors associated with chairs from the screen, with start and end

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_associations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("device", sa.String(128), nullable=False),
        sa.Column("bed_id", sa.String(64), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("ended", sa.Float()),
        sa.Column("ended_by", sa.String(64)),
    )
    op.create_index("ix_device_associations_device", "device_associations", ["device"])
    op.create_index("ix_device_associations_bed_id", "device_associations", ["bed_id"])
    op.create_index("ix_device_associations_ended", "device_associations", ["ended"])


def downgrade() -> None:
    op.drop_table("device_associations")
