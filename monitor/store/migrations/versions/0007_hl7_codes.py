"""hl7_codes: every observation code seen, per sender (the integrator's view)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hl7_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("obx3", sa.String(length=200), nullable=False),
        sa.Column("obx6", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("code_system", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("example_value", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hl7_codes")),
        sa.UniqueConstraint("sender", "obx3", "obx6", name=op.f("uq_hl7_codes_sender")),
    )
    op.create_index("ix_hl7_codes_last_seen", "hl7_codes", ["last_seen"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_hl7_codes_last_seen", table_name="hl7_codes")
    op.drop_table("hl7_codes")
