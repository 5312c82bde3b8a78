"""alarms: actionable (the nurse's one-tap answer) and rule_set_version; rule_sets (every adopted version)

Revision ID: 0010
Revises: 0009

``actionable`` is NULL until someone answers it (old rows stay unanswered). ``rule_set_version`` names
the clinic rule set in force when the alarm was raised (NULL for alarms raised before versions existed).
``rule_sets`` keeps every version with its TOML text, author and time: adopting one appends a row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actionable", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("rule_set_version", sa.Integer(), nullable=True))
    op.create_table(
        "rule_sets",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rules_toml", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_rule_sets_created", "rule_sets", ["created"])


def downgrade() -> None:
    op.drop_table("rule_sets")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_column("rule_set_version")
        batch_op.drop_column("actionable")
