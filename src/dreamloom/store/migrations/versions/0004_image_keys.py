"""Images get a random key that their public links name them by.

Links used to carry the row id (``/images/17.png``), so anyone could list every image by
counting. Each image now has 128 random bits, URL-safe; existing images get theirs here. Old
integer links stop working.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_BACKFILL_BATCH = 1000


def _new_key() -> str:
    # The same as store.tables.new_image_key at the time of writing; a migration keeps its own
    # copy so that later changes to the tables do not change what it did.
    return secrets.token_urlsafe(16)


def upgrade() -> None:
    op.add_column("images", sa.Column("key", sa.String(length=32), nullable=True))
    images = sa.table("images", sa.column("id", sa.Integer()), sa.column("key", sa.String()))
    connection = op.get_bind()
    while True:
        ids = connection.execute(
            sa.select(images.c.id).where(images.c.key.is_(None)).limit(_BACKFILL_BATCH)
        ).scalars()
        rows = [{"image_id": image_id, "new_key": _new_key()} for image_id in ids]
        if not rows:
            break
        connection.execute(
            images.update()
            .where(images.c.id == sa.bindparam("image_id"))
            .values(key=sa.bindparam("new_key")),
            rows,
        )
    # batch mode: SQLite cannot make a column NOT NULL in place.
    with op.batch_alter_table("images") as batch:
        batch.alter_column("key", existing_type=sa.String(length=32), nullable=False)
        batch.create_index("ix_images_key", ["key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_index("ix_images_key")
        batch.drop_column("key")
