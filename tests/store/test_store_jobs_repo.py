"""Jobs, images and the ledger: creation, queries, conditional status transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from dreamloom.domain import RUNNING_STATUSES, JobStatus
from dreamloom.store import accounts, jobs_repo, ledger
from dreamloom.store.db import Database
from dreamloom.store.jobs_repo import ImageSpec, JobSpec
from dreamloom.store.tables import Job

T0 = datetime(2025, 5, 1, 10, 0, tzinfo=UTC)


def make_account(db: Database, name: str = "ada", plan: str = "standard") -> int:
    with db.session() as session:
        return accounts.create_account(session, name, plan, now=T0).id


def spec(**overrides: object) -> JobSpec:
    values: dict[str, object] = {"verb": "imagine", "mode": "fast", "prompt_text": "a cat"}
    values.update(overrides)
    return JobSpec(**values)  # type: ignore[arg-type]


def test_inserted_rows_read_back_as_the_orm_writes_them(db: Database) -> None:
    """Admission's Core INSERT and ``create_jobs`` store the same values, and ``JobRow``
    reads like the stored ``Job``."""
    account_id = make_account(db)
    specs = [
        spec(
            prompt={"text": "a cat", "params": {"ar": "1:1"}},
            recipe={"op": "txt2img", "seed": 7},
            seed=7,
            draft=True,
            visibility="stealth",
            request={"prompt": "a cat"},
            response={"content": "a cat --ar 1:1"},
            channel="lane-1",
            priority=3,
        )
    ] * 2
    rows = jobs_repo.new_jobs(account_id, specs, T0)
    assert rows[0].batch_id is not None and rows[0].batch_id == rows[1].batch_id
    assert [row.batch_index for row in rows] == [0, 1]
    with db.session() as session:
        jobs_repo.insert_jobs(session, rows)
        (orm,) = jobs_repo.create_jobs(session, account_id, specs[:1], now=T0)
        orm_id = orm.id
    columns = [column.key for column in Job.__table__.columns]
    assert sorted(columns) == sorted(vars(rows[0]))  # every column, nothing else
    with db.session() as session:
        stored = {
            job_id: session.get_one(Job, job_id) for job_id in [row.id for row in rows] + [orm_id]
        }
        for row in rows:
            for column in columns:
                assert getattr(stored[row.id], column) == getattr(row, column), column
        for column in set(columns) - {"id", "batch_id", "batch_index"}:
            assert getattr(stored[orm_id], column) == getattr(rows[0], column), column


def test_create_jobs_round_trips_every_field(db: Database) -> None:
    account_id = make_account(db)
    prompt = {"text": "a cat", "params": {"ar": "16:9", "weights": [1.0, -0.5]}}
    recipe = {"op": "txt2img", "width": 512, "seed": 4294967295}
    with db.session() as session:
        (created,) = jobs_repo.create_jobs(
            session,
            account_id,
            [
                spec(
                    prompt=prompt,
                    recipe=recipe,
                    seed=4294967295,
                    draft=True,
                    visibility="stealth",
                    request={"prompt": "a cat", "replyUrl": "https://example.invalid/hook"},
                )
            ],
            now=T0,
        )
        job_id = created.id
    with db.session() as session:
        job = jobs_repo.get_job(session, job_id)
        assert job is not None
        assert job.seed == 4294967295
        assert job.prompt == prompt and job.recipe == recipe
        assert job.request == {"prompt": "a cat", "replyUrl": "https://example.invalid/hook"}
        assert job.status == "created" and job.progress == 0 and job.attempts == 0
        assert job.draft is True and job.visibility == "stealth"
        assert job.created == T0 and job.enqueued_at == T0
        assert job.batch_id is None
        assert jobs_repo.get_job(session, "nope") is None


def test_a_batch_shares_an_id_and_keeps_its_order(db: Database) -> None:
    account_id = make_account(db)
    with db.session() as session:
        jobs = jobs_repo.create_jobs(session, account_id, [spec(seed=i) for i in range(3)])
        assert len({j.batch_id for j in jobs}) == 1 and jobs[0].batch_id is not None
        assert [j.batch_index for j in jobs] == [0, 1, 2]
        assert len({j.id for j in jobs}) == 3
    with pytest.raises(ValueError), db.session() as session:
        jobs_repo.create_jobs(session, account_id, [])


def test_listing_counting_and_queue_order(db: Database) -> None:
    ada, bob = make_account(db, "ada"), make_account(db, "bob")
    with db.session() as session:
        first = jobs_repo.create_jobs(session, ada, [spec()], now=T0)[0].id
        batch = jobs_repo.create_jobs(session, ada, [spec(), spec()], now=T0 + timedelta(seconds=1))
        bobs = jobs_repo.create_jobs(session, bob, [spec()], now=T0 + timedelta(seconds=2))[0]
        jobs_repo.start_jobs(session, [(bobs.id, "fast")], T0)
    with db.session() as session:
        listed = jobs_repo.list_jobs(session, account_id=ada)
        assert [j.id for j in listed][-1] == first  # newest first
        assert len(listed) == 3
        assert len(jobs_repo.list_jobs(session, account_id=ada, limit=1)) == 1
        older = jobs_repo.list_jobs(session, account_id=ada, before=T0 + timedelta(seconds=1))
        assert [j.id for j in older] == [first]
        running = jobs_repo.list_jobs(session, statuses=RUNNING_STATUSES)
        assert [j.id for j in running] == [bobs.id]
        queue = jobs_repo.jobs_with_status(session, ["created"])
        assert [j.id for j in queue] == [first, batch[0].id, batch[1].id]
        assert jobs_repo.count_active(session, ada) == {"created": 3, "started": 0, "progress": 0}
        assert jobs_repo.count_active(session, bob)["started"] == 1
        assert jobs_repo.queued_submissions(session, ada) == 2  # the batch counts once
        assert jobs_repo.queued_submissions(session, bob) == 0


def test_status_transitions_are_conditional(db: Database) -> None:
    account_id = make_account(db)
    with db.session() as session:
        job_id = jobs_repo.create_jobs(session, account_id, [spec()])[0].id
    with db.session(write=True) as session:
        assert jobs_repo.mark_progress(session, job_id, 10, T0) is False  # not running yet
        (started,) = jobs_repo.start_jobs(session, [(job_id, "fast")], T0)
        assert (started.id, started.status, started.attempts) == (job_id, "started", 1)
        assert jobs_repo.start_jobs(session, [(job_id, "fast")], T0) == []  # only once
        assert jobs_repo.mark_progress(session, job_id, 40, T0, "2025/05/x/preview.png")
    with db.session() as session:
        job = jobs_repo.get_job(session, job_id)
        assert job is not None
        assert (job.status, job.progress, job.attempts) == ("progress", 40, 1)
        assert job.preview_path == "2025/05/x/preview.png" and job.mode_effective == "fast"
    with db.session(write=True) as session:
        assert jobs_repo.requeue(session, job_id, T0)
        assert jobs_repo.start_jobs(session, [(job_id, "relax")], T0)
        assert jobs_repo.mark_failed(
            session, job_id, "Job cancelled by user", T0, from_statuses=RUNNING_STATUSES
        )
        # The loser of a race (a result arriving after the cancel) changes nothing.
        assert not jobs_repo.complete_jobs(session, [jobs_repo.Completion(job_id, 1, 1)], T0)
        jobs_repo.add_cost(session, job_id, 2.5, 5.0)
    with db.session() as session:
        job = jobs_repo.get_job(session, job_id)
        assert job is not None
        assert (job.status, job.error, job.attempts) == ("failed", "Job cancelled by user", 2)
        assert (job.gpu_seconds, job.cost_seconds) == (2.5, 5.0)
        assert job.finished == T0


def test_many_jobs_start_and_complete_in_one_go(db: Database) -> None:
    """The dispatcher's batches: jobs start in the order chosen, each in its mode; a job no
    longer queued (or no longer running) is left as it is, and gets no images."""
    account_id = make_account(db)
    with db.session() as session:
        a, b, c = (job.id for job in jobs_repo.create_jobs(session, account_id, [spec()] * 3))
    with db.session(write=True) as session:
        assert jobs_repo.mark_failed(session, b, "Job cancelled by user", T0)
        started = jobs_repo.start_jobs(session, [(c, "relax"), (b, "fast"), (a, "fast")], T0)
    assert [(row.id, row.mode_effective, row.attempts) for row in started] == [
        (c, "relax", 1),
        (a, "fast", 1),
    ]
    assert all(row.status == "started" and row.started == T0 for row in started)
    later = T0 + timedelta(seconds=5)
    with db.session(write=True) as session:
        jobs_repo.mark_failed(session, c, "Job cancelled by user", T0)
        done = jobs_repo.complete_jobs(
            session,
            [
                jobs_repo.Completion(job_id, 2.0, 4.0, [ImageSpec(i, f"{job_id}/{i}.png", 8, 8)])
                for job_id in (a, c)
                for i in [0]
            ],
            later,
        )
        ledger.record_usages(session, [ledger.Usage(account_id, a, "fast", 2.0, 4.0)], later)
    assert done == {a}
    with db.session() as session:
        rows = jobs_repo.job_rows(session, [a, b, c])
        assert (rows[a].status, rows[a].finished, rows[a].cost_seconds) == ("completed", later, 4.0)
        assert (rows[b].status, rows[c].status) == ("failed", "failed")
        assert [image.path for image in jobs_repo.images_of_job(session, a)] == [f"{a}/0.png"]
        assert jobs_repo.images_of_job(session, c) == []
        (entry,) = ledger.ledger_entries(session, account_id)
        assert (entry.job_id, entry.charged_seconds, entry.created) == (a, 4.0, later)


def test_images_of_a_job(db: Database) -> None:
    account_id = make_account(db)
    with db.session() as session:
        job_id = jobs_repo.create_jobs(session, account_id, [spec()])[0].id
        jobs_repo.add_images(
            session,
            job_id,
            [ImageSpec(i, f"2025/05/{job_id}/{i}.png", 64, 64, seed=10 + i) for i in (3, 0, 1)],
        )
    with db.session() as session:
        images = jobs_repo.images_of_job(session, job_id)
        assert [i.index for i in images] == [0, 1, 3]
        assert images[1].seed == 11 and images[1].moderation == "ok" and images[1].likes == 0
        assert jobs_repo.get_image(session, images[0].id) is not None
    with pytest.raises(IntegrityError), db.session() as session:
        jobs_repo.add_images(session, job_id, [ImageSpec(0, "dup.png", 1, 1)])


def test_ledger_and_grants(db: Database) -> None:
    ada, bob = make_account(db, "ada"), make_account(db, "bob")
    with db.session() as session:
        job_id = jobs_repo.create_jobs(session, ada, [spec()])[0].id
        ledger.record_usage(session, ada, job_id, "fast", 30.0, 30.0, now=T0)
        ledger.record_usage(session, ada, None, "turbo", 10.0, 20.0, now=T0 + timedelta(hours=1))
        ledger.record_usage(session, ada, None, "relax", 50.0, 0.0, now=T0 + timedelta(hours=2))
        ledger.record_usage(session, bob, None, "relax", 7.0, 0.0, now=T0)
        ledger.add_grant(
            session, ada, "bonus", 3600, granted_at=T0, expires_at=T0 + timedelta(days=30)
        )
        with pytest.raises(ValueError):
            ledger.add_grant(session, ada, "gift", 1, granted_at=T0, expires_at=T0)
    with db.session() as session:
        charges = ledger.fast_charges_since(session, ada, T0 + timedelta(minutes=1))
        assert charges == [(T0 + timedelta(hours=1), 20.0)]
        assert ledger.gpu_seconds_since(session, {ada: T0, bob: T0}, mode="relax") == {
            ada: 50.0,
            bob: 7.0,
        }
        assert ledger.gpu_seconds_since(session, {ada: T0}) == {ada: 90.0}
        by_mode = {u.mode: u for u in ledger.usage_by_mode(session, ada)}
        assert by_mode["turbo"].charged_seconds == 20.0 and by_mode["fast"].jobs == 1
        assert [e.mode for e in ledger.ledger_entries(session, ada)] == ["relax", "turbo", "fast"]
        grants = ledger.grants_expiring_after(session, ada, T0 + timedelta(days=29))
        assert [g.seconds for g in grants] == [3600]
        assert ledger.grants_expiring_after(session, ada, T0 + timedelta(days=30)) == []


def test_active_groups_give_the_loads_of_accounts_and_lanes(db: Database) -> None:
    """Admission, lane choice and the per-account counts all read one grouped query: running
    and queued jobs per account (a batch is one submission), and active jobs per lane and
    type, must come out as counted by hand here."""
    from dreamloom.jobs.submit import account_loads

    ada, bob, cy = make_account(db, "ada"), make_account(db, "bob"), make_account(db, "cy")
    with db.session() as session:
        batch = jobs_repo.create_jobs(session, ada, [spec(channel="1"), spec(channel="1")], now=T0)
        jobs_repo.create_jobs(session, ada, [spec(channel="2")], now=T0)
        jobs_repo.create_jobs(session, ada, [spec(channel="2", job_type="video")], now=T0)
        running = jobs_repo.create_jobs(session, bob, [spec(channel="3")], now=T0)
        done = jobs_repo.create_jobs(session, bob, [spec(channel="3")], now=T0)
        jobs_repo.create_jobs(session, bob, [spec(), spec(), spec()], now=T0)  # no lane
        session.flush()
        jobs_repo.start_jobs(session, [(running[0].id, "fast")], T0)
        jobs_repo.start_jobs(session, [(batch[0].id, "fast")], T0)
        jobs_repo.start_jobs(session, [(done[0].id, "fast")], T0)
        jobs_repo.mark_failed(session, done[0].id, "boom", T0)
    ids = [ada, bob, cy]
    with db.session() as session:
        loads = account_loads(session, ids)
        groups = jobs_repo.active_groups(session, ids)
        for account_id in ids:
            by_status = jobs_repo.count_active(session, account_id)
            load = loads[account_id]
            assert load.running == by_status[JobStatus.STARTED] + by_status[JobStatus.PROGRESS]
            assert load.queued_jobs == by_status[JobStatus.CREATED]
            assert load.queued_submissions == jobs_repo.queued_submissions(session, account_id)
    assert (loads[ada].running, loads[ada].queued_jobs, loads[ada].queued_submissions) == (1, 3, 3)
    assert (loads[bob].running, loads[bob].queued_jobs, loads[bob].queued_submissions) == (1, 3, 1)
    assert (loads[cy].running, loads[cy].queued_jobs, loads[cy].queued_submissions) == (0, 0, 0)
    lanes: dict[tuple[str | None, str], int] = {}
    for group in groups:
        key = (group.channel, group.job_type)
        lanes[key] = lanes.get(key, 0) + group.jobs
    assert lanes == {("1", "image"): 2, ("2", "image"): 1, ("2", "video"): 1, ("3", "image"): 1,
                     (None, "image"): 3}  # fmt: skip


def test_active_groups_are_answered_from_the_index_alone(db: Database) -> None:
    """Admission runs this under SQLite's write lock for every batch: every column it reads
    must be in ``ix_jobs_account_active``, or each active job costs a table look-up."""
    if db.dialect != "sqlite":
        pytest.skip("SQLite's query plan")
    statement = jobs_repo._ACTIVE_GROUPS.params(accounts=[1, 2]).compile(
        db.engine, compile_kwargs={"literal_binds": True}
    )
    with db.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}").all()
    assert any("COVERING INDEX ix_jobs_account_active" in row[-1] for row in plan), plan
