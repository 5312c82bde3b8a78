"""alarms: doubtful (raised by a questionable measurement) and filed (left the screens with its session)

Revision ID: 0009
Revises: 0008

An alarm whose session ended (discharge, abort) is filed "ended with the session" instead of staying
latched on the chair for the next patient; ``open_alarms`` leaves filed alarms out after a restart.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("doubtful", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("filed", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_column("filed")
        batch_op.drop_column("doubtful")
