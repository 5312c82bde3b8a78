"""treatment records: assessments, medications, the dose given, patient identifiers, outcome scores

Revision ID: 0011
Revises: 0010

What a clinic kept on paper beside the monitor: scale scores at the chair (MOAA/S, CADSS-6, nausea,
BPRS-4), drugs given, the ketamine dose actually given when it differs from the plan, the optional
identifiers printed on the infusion record, and follow-up outcome scores across a course. Adverse
events stay notes (``kind = adverse``) and gain a category.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("scale", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("items", sa.Text(), nullable=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("recorded", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name=op.f("fk_assessments_session_id_sessions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
    )
    op.create_index(op.f("ix_assessments_session_id"), "assessments", ["session_id"])
    op.create_table(
        "medications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("drug", sa.String(128), nullable=False),
        sa.Column("dose", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("recorded", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name=op.f("fk_medications_session_id_sessions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medications")),
    )
    op.create_index(op.f("ix_medications_session_id"), "medications", ["session_id"])
    op.create_table(
        "given_doses",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("dose_mg", sa.Float(), nullable=False),
        sa.Column("computed_mg", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name=op.f("fk_given_doses_session_id_sessions")),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_given_doses")),
    )
    op.create_table(
        "session_identities",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("birth_date", sa.String(10), nullable=True),
        sa.Column("mrn", sa.String(64), nullable=True),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_session_identities_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_identities")),
    )
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_ref", sa.String(64), nullable=False),
        sa.Column("scale", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("recorded", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
    )
    op.create_index(op.f("ix_outcomes_patient_ref"), "outcomes", ["patient_ref"])
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("category", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_column("category")
    op.drop_index(op.f("ix_outcomes_patient_ref"), table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_table("session_identities")
    op.drop_table("given_doses")
    op.drop_index(op.f("ix_medications_session_id"), table_name="medications")
    op.drop_table("medications")
    op.drop_index(op.f("ix_assessments_session_id"), table_name="assessments")
    op.drop_table("assessments")
