"""Personalization (profiles and moodboards, the pictures judged for them, the codes they made)
and Style Tuners (a prompt, a seed, and the jobs that drew each look).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_profiles_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_profiles"),
    )
    op.create_index("ix_profiles_account_id", "profiles", ["account_id"])
    op.create_table(
        "profile_picks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("profile_id", sa.String(length=16), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("picked", sa.Boolean(), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name="fk_profile_picks_profile_id_profiles",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name="fk_profile_picks_image_id_images",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_profile_picks"),
    )
    op.create_index("ix_profile_picks_profile_id", "profile_picks", ["profile_id"])
    op.create_table(
        "personal_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("profile_id", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name="fk_personal_codes_profile_id_profiles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name="pk_personal_codes"),
        sa.UniqueConstraint("profile_id", "digest", name="uq_personal_codes_profile_id"),
    )
    op.create_table(
        "personal_code_images",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"],
            ["personal_codes.code"],
            name="fk_personal_code_images_code_personal_codes",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", "position", name="pk_personal_code_images"),
    )

    op.create_table(
        "tuners",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("prompt_text", sa.Text(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("directions", sa.Integer(), nullable=False),
        sa.Column("created", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_tuners_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tuners"),
    )
    op.create_index("ix_tuners_account_id", "tuners", ["account_id"])
    op.create_table(
        "tuner_looks",
        sa.Column("tuner_id", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.Integer(), nullable=False),
        sa.Column("side", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["tuner_id"],
            ["tuners.id"],
            name="fk_tuner_looks_tuner_id_tuners",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_tuner_looks_job_id_jobs", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("tuner_id", "direction", "side", name="pk_tuner_looks"),
    )


def downgrade() -> None:
    op.drop_table("tuner_looks")
    op.drop_index("ix_tuners_account_id", table_name="tuners")
    op.drop_table("tuners")
    op.drop_table("personal_code_images")
    op.drop_table("personal_codes")
    op.drop_index("ix_profile_picks_profile_id", table_name="profile_picks")
    op.drop_table("profile_picks")
    op.drop_index("ix_profiles_account_id", table_name="profiles")
    op.drop_table("profiles")
