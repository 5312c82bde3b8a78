"""charting: the nurse's decisions on chart rows and the EHR outbox

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chart_rows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("row_key", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("values", sa.Text(), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name=op.f("fk_chart_rows_session_id_sessions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chart_rows")),
        sa.UniqueConstraint("session_id", "row_key", name="uq_chart_rows_session_row"),
    )
    op.create_table(
        "ehr_outbox",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("destination", sa.String(16), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("row_key", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("done_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ehr_outbox")),
    )
    op.create_index("ix_ehr_outbox_destination_state_id", "ehr_outbox", ["destination", "state", "id"])
    op.create_index("ix_ehr_outbox_session_row", "ehr_outbox", ["session_id", "row_key"])


def downgrade() -> None:
    op.drop_index("ix_ehr_outbox_session_row", table_name="ehr_outbox")
    op.drop_index("ix_ehr_outbox_destination_state_id", table_name="ehr_outbox")
    op.drop_table("ehr_outbox")
    op.drop_table("chart_rows")
