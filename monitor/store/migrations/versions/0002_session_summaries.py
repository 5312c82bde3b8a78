"""session summaries for the review list

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_summaries",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("computed", sa.Float(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("baseline_sbp", sa.Float(), nullable=True),
        sa.Column("baseline_dbp", sa.Float(), nullable=True),
        sa.Column("peak_sbp", sa.Float(), nullable=True),
        sa.Column("peak_sbp_rise", sa.Float(), nullable=True),
        sa.Column("peak_dbp_rise", sa.Float(), nullable=True),
        sa.Column("min_spo2", sa.Float(), nullable=True),
        sa.Column("spo2_below94_s", sa.Float(), nullable=True),
        sa.Column("spo2_below90_s", sa.Float(), nullable=True),
        sa.Column("alarms_high", sa.Integer(), nullable=False),
        sa.Column("alarms_medium", sa.Integer(), nullable=False),
        sa.Column("alarms_low", sa.Integer(), nullable=False),
        sa.Column("alarms_technical", sa.Integer(), nullable=False),
        sa.Column("time_to_ready_s", sa.Float(), nullable=True),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name=op.f("fk_session_summaries_session_id_sessions")),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_summaries")),
    )


def downgrade() -> None:
    op.drop_table("session_summaries")
