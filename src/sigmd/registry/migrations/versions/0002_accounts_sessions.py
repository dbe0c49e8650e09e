"""Accounts and sessions: disabled accounts, server-side sessions, login throttling, opaque patient references

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)

    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )

    # Patients get an opaque reference for page addresses (no identifier in a URL); existing rows get one each.
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
    connection = op.get_bind()
    patients = sa.table("patients", sa.column("id", sa.Integer()), sa.column("public_id", sa.String()))
    for (pk,) in connection.execute(sa.select(patients.c.id)).all():
        connection.execute(
            patients.update().where(patients.c.id == pk).values(public_id=secrets.token_hex(16)),
        )
    with op.batch_alter_table("patients") as batch:
        batch.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint(op.f("uq_patients_public_id"), ["public_id"])


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_constraint(op.f("uq_patients_public_id"), type_="unique")
        batch.drop_column("public_id")
    op.drop_table("login_throttle")
    op.drop_table("web_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("disabled_at")
