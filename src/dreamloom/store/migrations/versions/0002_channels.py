"""Channels (the lanes of an account, useapi v3 "channels") and the job's channel.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("discord", sa.String(length=16), nullable=False),
        sa.Column("max_jobs", sa.Integer(), nullable=False),
        sa.Column("max_image_jobs", sa.Integer(), nullable=False),
        sa.Column("max_video_jobs", sa.Integer(), nullable=False),
        sa.Column("reply_url", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created", _TS, nullable=False),
        sa.Column("updated", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_channels_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
    )
    op.create_index(op.f("ix_channels_account_id"), "channels", ["account_id"], unique=False)
    # batch mode: SQLite cannot ALTER a table to add indexes on new columns in every version.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=32), nullable=True))
        batch.create_index("ix_jobs_channel_status", ["channel", "status"], unique=False)
        batch.create_index("ix_jobs_parent_button", ["parent_job_id", "button"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_parent_button")
        batch.drop_index("ix_jobs_channel_status")
        batch.drop_column("channel")
    op.drop_index(op.f("ix_channels_account_id"), table_name="channels")
    op.drop_table("channels")
