"""Personalization rows: profiles and moodboards, the pictures judged for them, their codes.

A profile's taste is its picks: each picked picture scores +1, each passed over beside a picked
one -1; the preferred pictures are those scoring above 0, best first, newest first among equals.
A code keeps copies of the preferred pictures it was made from, so it outlives the pictures,
further picks and the profile itself.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from dreamloom.domain import JobStatus, JobType, ProfileKind, Visibility
from dreamloom.store.tables import (
    Image,
    Job,
    Like,
    PersonalCode,
    PersonalCodeImage,
    Profile,
    ProfilePick,
)

# Lowercase letters and digits: IDs and codes are typed after --p, in any case-folding client.
_ALPHABET = string.ascii_lowercase + string.digits


def new_id(prefix: str, length: int = 9) -> str:
    """A random ID: profiles start with "p", moodboards with "m", codes with a letter too (a
    code never reads as a number, which --p would not take for a code)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class Scored:
    image: Image
    score: int


def add_profile(
    session: Session,
    account_id: int,
    *,
    kind: ProfileKind,
    version: str,
    name: str,
    is_default: bool,
    now: datetime,
) -> Profile:
    prefix = "m" if kind is ProfileKind.MOODBOARD else "p"
    profile = Profile(
        id=new_id(prefix),
        account_id=account_id,
        kind=kind,
        version=version,
        name=name,
        is_default=is_default,
        deleted=False,
        created=now,
    )
    session.add(profile)
    session.flush()
    return profile


def profiles_of(session: Session, account_id: int) -> list[Profile]:
    """The account's profiles and moodboards that are not deleted, oldest first."""
    stmt = (
        select(Profile)
        .where(Profile.account_id == account_id, Profile.deleted.is_(False))
        .order_by(Profile.created, Profile.id)
    )
    return list(session.scalars(stmt))


def add_picks(
    session: Session, profile_id: str, judged: Sequence[tuple[int, bool]], now: datetime
) -> None:
    """``judged``: (image id, picked) pairs."""
    session.add_all(
        ProfilePick(profile_id=profile_id, image_id=image_id, picked=picked, created=now)
        for image_id, picked in judged
    )


def remove_picks(session: Session, profile_id: str, image_ids: Sequence[int]) -> int:
    picks = session.scalars(
        select(ProfilePick).where(
            ProfilePick.profile_id == profile_id, ProfilePick.image_id.in_(list(image_ids))
        )
    ).all()
    for pick in picks:
        session.delete(pick)
    return len(picks)


def rankings(session: Session, profile_id: str) -> int:
    """How many pictures were picked for the profile (the ranking count)."""
    stmt = select(func.count()).where(
        ProfilePick.profile_id == profile_id, ProfilePick.picked.is_(True)
    )
    return int(session.scalar(stmt) or 0)


def rankings_by_profile(session: Session, profile_ids: Sequence[str]) -> dict[str, int]:
    stmt = (
        select(ProfilePick.profile_id, func.count())
        .where(ProfilePick.profile_id.in_(list(profile_ids)), ProfilePick.picked.is_(True))
        .group_by(ProfilePick.profile_id)
    )
    return {profile_id: int(n) for profile_id, n in session.execute(stmt)}


def preferred(session: Session, profile_id: str, limit: int) -> list[Scored]:
    """The profile's preferred pictures that still exist: score above 0, best first."""
    score = func.sum(case((ProfilePick.picked.is_(True), 1), else_=-1)).label("score")
    latest = func.max(ProfilePick.id).label("latest")
    stmt = (
        select(Image, score)
        .join(ProfilePick, ProfilePick.image_id == Image.id)
        .where(ProfilePick.profile_id == profile_id)
        .group_by(Image.id)
        .having(score > 0)
        .order_by(score.desc(), latest.desc())
        .limit(limit)
    )
    return [Scored(image, int(n)) for image, n in session.execute(stmt)]


def liked_pictures(session: Session, account_id: int, limit: int) -> list[Image]:
    """The single pictures of jobs the account liked, newest like first."""
    stmt = (
        select(Image)
        .join(Like, Like.job_id == Image.job_id)
        .where(Like.account_id == account_id, Image.index >= 1)
        .order_by(Like.created.desc(), Image.index)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def candidates(
    session: Session, account_id: int, exclude: Sequence[int], count: int
) -> list[tuple[Image, Job]]:
    """``count`` pictures to rank, in random order: single pictures of finished image jobs
    that the account may see (its own, or anyone's public ones), allowed by moderation,
    those in ``exclude`` left out."""
    stmt = (
        select(Image, Job)
        .join(Job, Job.id == Image.job_id)
        .where(
            Image.index >= 1,
            Image.moderation == "ok",
            Job.status == JobStatus.COMPLETED,
            Job.job_type == JobType.IMAGE,
            or_(Job.account_id == account_id, Image.visibility == Visibility.PUBLIC),
        )
    )
    if exclude:
        stmt = stmt.where(Image.id.not_in(list(exclude)))
    rows = session.execute(stmt.order_by(func.random()).limit(count))
    return [(image, job) for image, job in rows]


def judged_ids(session: Session, profile_id: str) -> list[int]:
    stmt = select(ProfilePick.image_id).where(
        ProfilePick.profile_id == profile_id, ProfilePick.image_id.is_not(None)
    )
    return [image_id for image_id in session.scalars(stmt).unique() if image_id is not None]


def visible_images(session: Session, account_id: int, keys: Sequence[str]) -> dict[str, Image]:
    """The images of ``keys`` that the account may see, by key."""
    stmt = (
        select(Image)
        .join(Job, Job.id == Image.job_id)
        .where(
            Image.key.in_(list(keys)),
            or_(Job.account_id == account_id, Image.visibility == Visibility.PUBLIC),
        )
    )
    return {image.key: image for image in session.scalars(stmt)}


# -- codes ----------------------------------------------------------------------------------


def code_for(session: Session, profile_id: str, digest: str) -> str | None:
    stmt = select(PersonalCode.code).where(
        and_(PersonalCode.profile_id == profile_id, PersonalCode.digest == digest)
    )
    return session.scalar(stmt)


def add_code(
    session: Session, profile_id: str, digest: str, pictures: Sequence[bytes], now: datetime
) -> str:
    code = new_id(secrets.choice(string.ascii_lowercase), 6)
    session.add(PersonalCode(code=code, profile_id=profile_id, digest=digest, created=now))
    session.flush()
    session.add_all(
        PersonalCodeImage(code=code, position=n, data=data) for n, data in enumerate(pictures)
    )
    return code


def code_pictures(session: Session, code: str) -> list[bytes] | None:
    """The pictures a code was made from; None when there is no such code."""
    if session.get(PersonalCode, code) is None:
        return None
    stmt = (
        select(PersonalCodeImage.data)
        .where(PersonalCodeImage.code == code)
        .order_by(PersonalCodeImage.position)
    )
    return list(session.scalars(stmt))


def codes_of(session: Session, account_id: int) -> list[tuple[PersonalCode, Profile]]:
    """Every code the account's profiles made (deleted profiles' too), newest first."""
    stmt = (
        select(PersonalCode, Profile)
        .join(Profile, Profile.id == PersonalCode.profile_id)
        .where(Profile.account_id == account_id)
        .order_by(PersonalCode.created.desc(), PersonalCode.code)
    )
    return [(code, profile) for code, profile in session.execute(stmt)]
