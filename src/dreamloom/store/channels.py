"""Channels (an account's lanes): reading, making and removing them.

Like the other repositories, every function takes an open ``Session`` and leaves committing to
the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dreamloom.store.tables import Channel

# Built once: admission reads the lanes of every batch.
_LANES = (
    select(Channel)
    .where(Channel.account_id.in_(bindparam("accounts", expanding=True)))
    .order_by(Channel.created, Channel.id)
)


def get_channel(session: Session, channel_id: str) -> Channel | None:
    return session.get(Channel, channel_id)


def channels_by_account(session: Session, account_ids: Sequence[int]) -> dict[int, list[Channel]]:
    """Each account's channels, oldest first, in one query (an empty list for none)."""
    lanes: dict[int, list[Channel]] = {account_id: [] for account_id in account_ids}
    for channel in session.scalars(_LANES, {"accounts": list(account_ids)}):
        lanes[channel.account_id].append(channel)
    return lanes


def add_channel(
    session: Session,
    channel_id: str,
    account_id: int,
    max_jobs: int,
    now: datetime,
    *,
    type_jobs: int | None = None,
) -> Channel:
    """A new channel: at most ``max_jobs`` active jobs, ``type_jobs`` (default: as many) of
    one type."""
    per_type = max_jobs if type_jobs is None else type_jobs
    row = Channel(
        id=channel_id,
        account_id=account_id,
        max_jobs=max_jobs,
        max_image_jobs=per_type,
        max_video_jobs=per_type,
        created=now,
        updated=now,
    )
    session.add(row)
    return row


def delete_channel(session: Session, row: Channel) -> None:
    session.delete(row)
