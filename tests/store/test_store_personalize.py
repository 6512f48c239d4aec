"""Personalization rows on SQLite and PostgreSQL: scores of picks, candidates, codes."""

from __future__ import annotations

from datetime import UTC, datetime

from dreamloom.domain import JobStatus, ProfileKind
from dreamloom.store import accounts, jobs_repo
from dreamloom.store import personalize as repo
from dreamloom.store.db import Database
from dreamloom.store.jobs_repo import ImageSpec, JobSpec
from dreamloom.store.tables import Image, Job

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def _grid(db: Database, account_id: int, *, visibility: str = "public") -> list[Image]:
    """A finished imagine job of four single pictures (and its grid)."""
    with db.session() as session:
        spec = JobSpec(verb="imagine", mode="fast", prompt_text="a cat", visibility=visibility)
        (job,) = jobs_repo.create_jobs(session, account_id, [spec], now=T0)
        session.get_one(Job, job.id).status = JobStatus.COMPLETED
        images = jobs_repo.add_images(
            session,
            job.id,
            [ImageSpec(n, f"{job.id}-{n}.png", 8, 8, visibility=visibility) for n in range(5)],
            now=T0,
        )
        session.expunge_all()
        return images


def test_picks_scores_candidates_and_codes(db: Database) -> None:
    with db.session() as session:
        ann = accounts.create_account(session, "ann", "pro", now=T0).id
        bob = accounts.create_account(session, "bob", "pro", now=T0).id
    public = _grid(db, bob)
    secret = _grid(db, bob, visibility="stealth")
    own = _grid(db, ann, visibility="stealth")
    with db.session() as session:
        profile = repo.add_profile(
            session, ann, kind=ProfileKind.GLOBAL, version="7", name="g", is_default=True, now=T0
        )
        pid = profile.id
        a, b, c = public[1].id, public[2].id, own[1].id
        # a: picked twice, b: picked once and passed over twice, c: picked once.
        repo.add_picks(session, pid, [(a, True), (b, False)], T0)
        repo.add_picks(session, pid, [(a, True), (b, False)], T0)
        repo.add_picks(session, pid, [(b, True), (c, True)], T0)
    with db.session() as session:
        assert repo.rankings(session, pid) == 4
        assert repo.rankings_by_profile(session, [pid]) == {pid: 4}
        assert [(s.image.id, s.score) for s in repo.preferred(session, pid, 8)] == [(a, 2), (c, 1)]
        # Candidates: singles only, own and public ones, never another's stealth pictures.
        found = {image.id for image, _ in repo.candidates(session, ann, [], 50)}
        assert found == {i.id for i in public[1:] + own[1:]}
        assert not found & {i.id for i in secret}
        rest = {
            image.id
            for image, _ in repo.candidates(session, ann, repo.judged_ids(session, pid), 50)
        }
        assert rest == found - {a, b, c}
        visible = repo.visible_images(session, ann, [public[1].key, secret[1].key, own[2].key])
        assert set(visible) == {public[1].key, own[2].key}
        # A code keeps its pictures; one per state.
        code = repo.add_code(session, pid, "d1", [b"one", b"two"], T0)
    with db.session() as session:
        assert repo.code_for(session, pid, "d1") == code
        assert repo.code_for(session, pid, "d2") is None
        assert repo.code_pictures(session, code) == [b"one", b"two"]
        assert repo.code_pictures(session, "nothing") is None
        assert [(k.code, p.id) for k, p in repo.codes_of(session, ann)] == [(code, pid)]
        assert repo.codes_of(session, bob) == []
        assert repo.remove_picks(session, pid, [c]) == 1
    with db.session() as session:
        assert [s.image.id for s in repo.preferred(session, pid, 8)] == [a]
