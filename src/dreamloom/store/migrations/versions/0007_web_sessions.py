"""The web app: a password hash per account, the signed-in browsers, likes, hidden jobs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.Column("expires", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_web_sessions_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_account_id", "web_sessions", ["account_id"])
    # A constant server default ('0' reads as false on SQLite and PostgreSQL), so that SQLite
    # adds the column in place: a batch that rebuilt the jobs table would drop it, and the
    # foreign keys would take every image along.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("hidden", sa.Boolean(), nullable=False, server_default="0"))
    op.create_table(
        "likes",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_likes_account_id_accounts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_likes_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "job_id", name="pk_likes"),
    )
    op.create_index("ix_likes_job_id", "likes", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_likes_job_id", table_name="likes")
    op.drop_table("likes")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("hidden")
    op.drop_index("ix_web_sessions_account_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("password_hash")
