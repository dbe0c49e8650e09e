"""CDS Hooks feedback: cards accepted or overridden in a CDS client

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("card_uuid", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_reason", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_feedback")),
    )
    op.create_index(op.f("ix_cds_feedback_card_uuid"), "cds_feedback", ["card_uuid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cds_feedback_card_uuid"), table_name="cds_feedback")
    op.drop_table("cds_feedback")
