"""identity: demo users marked, logins' last activity (idle timeout), the shared login throttle

Revision ID: 0006
Revises: 0005

Users the demo created before this revision carry no mark; they are recognised by what made them
demo users: one of the demo names with the password "demo". Such a login must not survive in a
production database either way, so marking it is what lets ``ivmon serve`` refuse it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DEMO_NAMES = ("nurse", "clinician", "admin")


def _is_demo_password(password_hash: str | None) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return password_hash is not None and PasswordHasher().verify(password_hash, "demo")
    except (VerificationError, InvalidHashError):
        return False


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_active", sa.Float(), nullable=True))
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttle_updated"), ["updated"], unique=False)
    users = sa.table(
        "users", sa.column("username", sa.String), sa.column("password_hash", sa.String), sa.column("demo", sa.Boolean)
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(users.c.username, users.c.password_hash).where(users.c.username.in_(DEMO_NAMES)))
    demo = [name for name, password_hash in rows if _is_demo_password(password_hash)]
    if demo:
        conn.execute(sa.update(users).where(users.c.username.in_(demo)).values(demo=True))


def downgrade() -> None:
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttle_updated"))
    op.drop_table("login_throttle")
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_column("last_active")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("demo")
