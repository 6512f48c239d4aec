"""A button job's grid seconds as a column.

A button priced against its grid (upscales, variations: ``jobs.pricing``) used to carry the
grid's measured seconds in its stored response under ``_grid_seconds``; now it is a typed
column, and the response holds only what clients see. Existing values move over.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_KEY = "_grid_seconds"
_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("grid_seconds", sa.Float(), nullable=True))
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String()),
        sa.column("verb", sa.String()),
        sa.column("response", sa.JSON()),
        sa.column("grid_seconds", sa.Float()),
    )
    bind = op.get_bind()
    last = ""
    while True:
        rows = bind.execute(
            sa.select(jobs.c.id, jobs.c.response)
            .where(jobs.c.verb == "button", jobs.c.id > last)
            .order_by(jobs.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for job_id, response in rows:
            if isinstance(response, dict) and isinstance(response.get(_KEY), int | float):
                kept = {k: v for k, v in response.items() if k != _KEY}
                bind.execute(
                    sa.update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(grid_seconds=float(response[_KEY]), response=kept or None)
                )
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("grid_seconds")
