"""Style Tuner rows: the tuner, and the job that drew each of its looks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dreamloom.store.personalize import new_id
from dreamloom.store.tables import Tuner, TunerLook


def add_tuner(
    session: Session, account_id: int, prompt_text: str, seed: int, directions: int, now: datetime
) -> Tuner:
    tuner = Tuner(
        id=new_id("t"),
        account_id=account_id,
        prompt_text=prompt_text,
        seed=seed,
        directions=directions,
        created=now,
    )
    session.add(tuner)
    session.flush()
    return tuner


def tuners_of(session: Session, account_id: int) -> list[Tuner]:
    stmt = select(Tuner).where(Tuner.account_id == account_id).order_by(Tuner.created.desc())
    return list(session.scalars(stmt))


def looks(session: Session, tuner_id: str) -> dict[tuple[int, int], str | None]:
    """(direction, side) -> the job that drew it (None once that job was deleted)."""
    stmt = select(TunerLook).where(TunerLook.tuner_id == tuner_id)
    return {(look.direction, look.side): look.job_id for look in session.scalars(stmt)}


def add_looks(session: Session, tuner_id: str, drawn: Sequence[tuple[int, int, str]]) -> None:
    """``drawn``: (direction, side, job id)."""
    for direction, side, job_id in drawn:
        existing = session.get(TunerLook, (tuner_id, direction, side))
        if existing is None:
            session.add(TunerLook(tuner_id=tuner_id, direction=direction, side=side, job_id=job_id))
        else:
            existing.job_id = job_id
