"""The outbox: job events waiting to be delivered, and each job's delivery targets.

``jobs.deliveries`` holds the targets fixed at admission (None for the common job without
any); ``outbox`` holds one row per event and target, written in the transaction of the job's
state change and settled by the delivery worker.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("deliveries", sa.JSON(), nullable=True))
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("preview_path", sa.String(length=512), nullable=True),
        sa.Column("occurred", _TS, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", _TS, nullable=False),
        sa.Column("settled", _TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_outbox_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index("ix_outbox_state_job", "outbox", ["state", "job_id", "kind", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_state_job", table_name="outbox")
    op.drop_table("outbox")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("deliveries")
