"""The repository functions behind the service's use-cases: channels, a job's family, an
account's active jobs and strikes, the plans admission locks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dreamloom.domain import JobStatus
from dreamloom.store import accounts, channels, jobs_repo
from dreamloom.store.db import Database
from dreamloom.store.jobs_repo import JobSpec

T0 = datetime(2025, 5, 1, 10, 0, tzinfo=UTC)


def _spec(**overrides: object) -> JobSpec:
    values: dict[str, object] = {"verb": "imagine", "mode": "fast", "prompt_text": "a cat"}
    values.update(overrides)
    return JobSpec(**values)  # type: ignore[arg-type]


def test_channels_by_account_oldest_first_and_empty_for_none(db: Database) -> None:
    with db.session() as session:
        ada = accounts.create_account(session, "ada", "standard", now=T0).id
        bob = accounts.create_account(session, "bob", "pro", now=T0).id
        channels.add_channel(session, "2", ada, 3, T0 + timedelta(seconds=1))
        channels.add_channel(session, "1", ada, 5, T0)
    with db.session() as session:
        lanes = channels.channels_by_account(session, [ada, bob])
        assert [c.id for c in lanes[ada]] == ["1", "2"] and lanes[bob] == []
        row = channels.get_channel(session, "1")
        assert row is not None and (row.max_jobs, row.max_image_jobs) == (5, 5)
        assert accounts.lock_plans(session, [bob, ada]) == {ada: "standard", bob: "pro"}
        assert [a.name for a in accounts.accounts_by_ids(session, [bob])] == ["bob"]
    with db.session() as session:
        row = channels.get_channel(session, "2")
        assert row is not None
        channels.delete_channel(session, row)
    with db.session() as session:
        assert channels.get_channel(session, "2") is None


def test_a_jobs_family_active_jobs_and_strikes(db: Database) -> None:
    with db.session() as session:
        ada = accounts.create_account(session, "ada", "standard", now=T0).id
        (parent,) = jobs_repo.create_jobs(session, ada, [_spec()], now=T0)
        first, failed, second = jobs_repo.create_jobs(
            session,
            ada,
            [
                _spec(verb="button", button="U1", parent_job_id=parent.id),
                _spec(verb="button", button="U2", parent_job_id=parent.id),
                _spec(verb="seed", parent_job_id=parent.id),
            ],
            now=T0 + timedelta(seconds=1),
        )
        jobs_repo.mark_failed(session, failed.id, "no", T0)
        (flagged,) = jobs_repo.create_jobs(session, ada, [_spec()], now=T0)
        jobs_repo.mark_failed(session, flagged.id, "flagged", T0, status=JobStatus.MODERATED)
        ids = (parent.id, first.id, failed.id, second.id, flagged.id)
    parent_id, first_id, failed_id, second_id, _ = ids
    with db.session() as session:
        children = jobs_repo.children_of(session, parent_id)
        assert sorted(children) == sorted([(first_id, "U1"), (failed_id, "U2"), (second_id, None)])
        found = jobs_repo.first_child(session, parent_id, "button", "U1")
        assert found is not None and found.id == first_id
        assert jobs_repo.first_child(session, parent_id, "button", "U2") is None  # failed
        seed = jobs_repo.first_child(session, parent_id, "seed", None)
        assert seed is not None and seed.id == second_id
        active = {job.id for job in jobs_repo.active_jobs_of(session, ada)}
        assert active == {parent_id, first_id, second_id}
        assert jobs_repo.moderated_since(session, ada, T0 - timedelta(hours=1)) == 1
        assert jobs_repo.moderated_since(session, ada, T0) == 0
