"""A covering index for the active jobs of accounts.

Admission counts every active job of a batch's accounts by lane, type and status, holding
SQLite's write lock meanwhile; with every column it reads in the index, SQLite answers from
the index alone (about 4 times faster with 60 waiting jobs an account). It replaces the
(account_id, status) index, whose look-ups it serves as well.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = ["account_id", "status", "channel", "job_type", "batch_id", "id"]


def upgrade() -> None:
    op.create_index("ix_jobs_account_active", "jobs", _COLUMNS, unique=False)
    op.drop_index("ix_jobs_account_status", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_account_status", "jobs", ["account_id", "status"], unique=False)
    op.drop_index("ix_jobs_account_active", table_name="jobs")
