"""sessions: protocol and dose per kg; discharge reason, who decided, escort, ready time

Revision ID: 0012
Revises: 0011

A session names its protocol template (monitor/protocols) and the dose per kg it was started with.
A discharge records the escort (name, relation) and, when the criteria were not met, the reason and
who decided; ``ready_at`` is when the criteria were first seen met. Old rows keep NULL: not recorded.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("protocol", sa.String(length=64)),
    ("dose_mg_per_kg", sa.Float()),
    ("discharge_reason", sa.Text()),
    ("discharge_decided_by", sa.String(length=120)),
    ("escort_name", sa.String(length=120)),
    ("escort_relation", sa.String(length=120)),
    ("ready_at", sa.Float()),
)


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        for name, kind in _COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        for name, _ in reversed(_COLUMNS):
            batch_op.drop_column(name)
