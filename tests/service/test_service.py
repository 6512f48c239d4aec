"""The service use-cases over the real stack: SQLite, the dispatcher, a worker process running
the tiny diffusers pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamloom.config import Settings
from dreamloom.service import AccountView, Service, ServiceError


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), model="tiny", workers=1)


@pytest.fixture(scope="module")
def service(settings: Settings) -> Iterator[Service]:
    with Service(settings) as svc:
        assert svc.dispatching
        yield svc


def _user(service: Service, name: str, plan: str) -> AccountView:
    account, token = service.create_user(name, plan)
    assert service.authenticate(token) == account
    return account


def test_relax_refused_on_basic_with_the_seed_text(service: Service) -> None:
    basic = _user(service, "basic-user", "basic")
    with pytest.raises(ServiceError) as err:
        service.submit_imagine(basic, "a cat --relax")
    assert err.value.message == (
        "Failed to submit: Relax queues are only available for users with a standard plan or higher"
    )


def test_batches_refused_in_relax_and_over_the_plan_cap(service: Service) -> None:
    standard = _user(service, "standard-user", "standard")
    with pytest.raises(ServiceError) as err:
        service.submit_imagine(standard, "a {red, blue} cat --relax")
    assert err.value.message == "You can not submit batch jobs in relax mode"
    basic = service.ensure_user("basic-user")
    with pytest.raises(ServiceError) as err:
        service.submit_imagine(basic, "a cat --repeat 5")
    assert "at most 4" in err.value.message
    with pytest.raises(ServiceError) as err:
        service.submit_imagine(standard, "a cat --stylize 5000")
    assert err.value.message == "--stylize must be between 0 and 1000 with --version 7"
    assert err.value.status == 400


def test_stealth_needs_pro(service: Service) -> None:
    standard = service.ensure_user("standard-user")
    with pytest.raises(ServiceError):
        service.submit_imagine(standard, "a cat --stealth")
    pro = _user(service, "pro-user", "pro")
    (job,) = service.submit_imagine(pro, "a cat --stealth --seed 1")
    done = service.wait(job.id, timeout=300)
    assert done.status == "completed"


def test_permutations_run_as_jobs_and_charge_fast_time(service: Service) -> None:
    account = _user(service, "perm-user", "standard")
    before = {u.name: u.fast_seconds_left for u in service.list_users()}["perm-user"]
    jobs = service.submit_imagine(account, "a {red, blue} fox --seed 5")
    assert [j.prompt_text.split(" --")[0] for j in jobs] == ["a red fox", "a blue fox"]
    done = [service.wait(j.id, timeout=300) for j in jobs]
    assert all(d.status == "completed" for d in done)
    assert all(len(d.images) == 5 and d.seed == 5 for d in done)
    assert all(d.gpu_seconds > 0 and d.cost_seconds == pytest.approx(d.gpu_seconds) for d in done)
    after = {u.name: u.fast_seconds_left for u in service.list_users()}["perm-user"]
    assert before - after == pytest.approx(sum(d.cost_seconds for d in done), rel=1e-6)


def test_draft_is_charged_half_and_relax_takes_no_fast_time(service: Service) -> None:
    account = _user(service, "draft-user", "standard")
    (draft,) = service.submit_imagine(account, "a cat --draft --seed 2")
    done = service.wait(draft.id, timeout=300)
    assert done.status == "completed"
    assert done.cost_seconds == pytest.approx(done.gpu_seconds * 0.5)
    (relax,) = service.submit_imagine(account, "a cat --relax --seed 2")
    done = service.wait(relax.id, timeout=300)
    assert done.status == "completed" and done.mode == "relax"
    assert done.gpu_seconds > 0 and done.cost_seconds == 0


def test_export_and_unknown_job(service: Service, tmp_path: Path) -> None:
    account = _user(service, "export-user", "standard")
    (job,) = service.submit_imagine(account, "a lighthouse --ar 2:1 --seed 9")
    done = service.wait(job.id, timeout=300)
    paths = service.export_images(done.id, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        [f"{job.id}_grid.png"] + [f"{job.id}_{i}.png" for i in range(1, 5)]
    )
    other = _user(service, "someone-else", "standard")
    with pytest.raises(ServiceError) as err:
        service.get_job(job.id, other)
    assert err.value.status == 404


def test_queued_jobs_cannot_be_cancelled(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, model="tiny")
    with Service(settings, dispatch=False) as svc:
        account = svc.ensure_user("q")
        (job,) = svc.submit_imagine(account, "a cat")
        with pytest.raises(ServiceError) as err:
            svc.cancel(account, job.id)
        assert "Only running jobs can be cancelled" in err.value.message


def test_jobs_queued_by_another_process_resume_when_a_dispatcher_starts(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, model="tiny")
    with Service(settings, dispatch=False) as writer:
        assert not writer.dispatching
        account = writer.ensure_user("later")
        (job,) = writer.submit_imagine(account, "a boat --seed 4")
        assert writer.get_job(job.id).status == "created"
    with Service(settings) as server:
        done = server.wait(job.id, timeout=300)
    assert done.status == "completed" and len(done.images) == 5


def test_only_one_process_dispatches_per_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, model="tiny")
    with Service(settings, dispatch=False) as a:
        a.ensure_user("x")
    first = Service(settings)
    # Take the lock without spawning workers: a second service must then not dispatch.
    assert first.runtime._lock.acquire()
    try:
        with Service(settings) as second:
            assert not second.dispatching
    finally:
        first.runtime._lock.release()
        first.db.dispose()


def _queue_of_eight(tmp_path: Path) -> Settings:
    """Standard plan with 8 waiting jobs: 3 running + 8 fit in a lane (at most 12 image jobs,
    the reference's range), so the plan's queue is what refuses."""
    plans = tmp_path / "plans.json"
    plans.write_text('{"plans": {"standard": {"queue_depth": 8}}}', encoding="utf-8")
    return Settings(data_dir=tmp_path, model="tiny", plans_file=plans)


def test_queue_depth_refuses_the_twelfth_waiting_job_with_429(tmp_path: Path) -> None:
    with Service(_queue_of_eight(tmp_path), dispatch=False) as svc:
        account = svc.ensure_user("busy", plan="standard")
        # Nothing runs here: 3 jobs would start at once, 8 more may wait.
        for i in range(11):
            svc.submit_imagine(account, f"a cat number {i}")
        with pytest.raises(ServiceError) as err:
            svc.submit_imagine(account, "one too many")
        assert err.value.status == 429
        assert "queue is full" in err.value.message


def test_the_default_lane_keeps_the_references_limits(tmp_path: Path) -> None:
    """A pro plan lets 12 run and 10 wait, but a lane holds at most 12 image jobs (the
    reference's 1-12): the 13th is refused by the lane, and the lane reports its limits."""
    with Service(Settings(data_dir=tmp_path, model="tiny"), dispatch=False) as svc:
        account = svc.ensure_user("pro-user", plan="pro")
        for i in range(12):
            svc.submit_imagine(account, f"a cat number {i}")
        with pytest.raises(ServiceError) as err:
            svc.submit_imagine(account, "one too many")
        assert err.value.status == 429 and "busy executing 12 image jobs" in err.value.message
        (lane,) = svc.list_channels(account)
        assert (lane.max_jobs, lane.max_image_jobs, lane.max_video_jobs) == (15, 12, 12)


def test_concurrent_submissions_are_admitted_together_within_the_plan(tmp_path: Path) -> None:
    """Submissions racing from many threads are admitted in shared transactions: each one
    sees those admitted before it, so exactly 11 of one account's 30 fit (3 start, 8 wait),
    every accepted job is in the database, and other accounts are unaffected."""
    import threading

    with Service(_queue_of_eight(tmp_path), dispatch=False) as svc:
        busy = svc.ensure_user("busy", plan="standard")
        calm = svc.ensure_user("calm", plan="standard")
        accepted: list[str] = []
        refused: list[ServiceError] = []
        calm_jobs: list[str] = []
        start = threading.Barrier(40)

        def submit(i: int) -> None:
            start.wait()
            try:
                if i % 4 == 3:
                    calm_jobs.extend(v.id for v in svc.submit_imagine(calm, f"a calm dog {i}"))
                else:
                    accepted.extend(v.id for v in svc.submit_imagine(busy, f"a busy cat {i}"))
            except ServiceError as err:
                refused.append(err)

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(accepted) == 11
        assert len(refused) == 30 - 11
        assert {err.status for err in refused} == {429}
        assert len(calm_jobs) == 10
        for job_id in accepted + calm_jobs:
            assert svc.get_job(job_id).status == "created"
        assert len({svc.get_job(j).channel for j in accepted}) == 1


def test_a_lane_made_by_another_process_meanwhile_is_used_not_a_new_default_one(
    tmp_path: Path,
) -> None:
    """Admission reads an account's lanes before it takes the write lock; the account's owner
    may configure its first lane in another process in between. The batch must look again
    under the lock and queue into that lane, not make a default lane beside it."""
    from dreamloom.service.channels import ChannelConfig

    settings = Settings(data_dir=tmp_path, model="tiny")
    with (
        Service(settings, dispatch=False) as svc,
        Service(settings, dispatch=False) as other,
    ):
        account = svc.ensure_user("newcomer", plan="standard")
        read_batch = svc.admission._read_batch

        def read_then_other_configures(batch):  # type: ignore[no-untyped-def]
            lanes, fast = read_batch(batch)
            assert not lanes.get(account.id)  # nothing yet when this batch looked
            other.configure_channel(other.ensure_user("newcomer"), ChannelConfig(channel="42"))
            return lanes, fast

        svc.admission._read_batch = read_then_other_configures  # type: ignore[method-assign]
        (job,) = svc.submit_imagine(account, "a first cat")
        assert [lane.id for lane in svc.list_channels(account)] == ["42"]
        assert job.channel == "42"


def test_lane_changes_apply_at_once_here_and_within_the_cache_time_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Admission keeps an account's lanes for ``LANE_CACHE_SECONDS``: a change made through
    this service applies to the next submission, one made by another process once that time
    is up."""
    import time

    from dreamloom.service import channels
    from dreamloom.service.channels import ChannelConfig

    monkeypatch.setattr(channels, "LANE_CACHE_SECONDS", 0.5)
    settings = Settings(data_dir=tmp_path, model="tiny")
    with (
        Service(settings, dispatch=False) as svc,
        Service(settings, dispatch=False) as other,
    ):
        account = svc.ensure_user("lanes", plan="standard")
        svc.configure_channel(account, ChannelConfig(channel="7", max_jobs=3))
        svc.submit_imagine(account, "a cat")
        svc.configure_channel(account, ChannelConfig(channel="7", max_jobs=1))
        with pytest.raises(ServiceError) as err:
            svc.submit_imagine(account, "a second cat")
        assert err.value.status == 429 and "Channel 7 is busy" in err.value.message

        other.configure_channel(
            other.ensure_user("lanes"), ChannelConfig(channel="7", max_jobs=2, max_image_jobs=2)
        )
        time.sleep(0.6)
        (job,) = svc.submit_imagine(account, "a second cat")
        assert job.channel == "7"


def test_jobs_started_ahead_per_worker_all_run(tmp_path: Path) -> None:
    """``worker_queue`` lets the scheduler start that many jobs per worker ahead: the executor
    takes workers x (1 + queue) at once, and every job still runs once and completes."""
    settings = Settings(data_dir=tmp_path, model="tiny", runner="instant", worker_queue=3)
    with Service(settings) as svc:
        assert svc.runtime.dispatcher is not None and svc.runtime.dispatcher.executor.slots == 4
        account = svc.ensure_user("eager", plan="pro")
        jobs = [
            j for i in range(3) for j in svc.submit_imagine(account, f"a {{red, blue}} fox {i}")
        ]
        done = [svc.wait(job.id, timeout=120) for job in jobs]
    assert [job.status for job in done] == ["completed"] * 6
    assert all(len(job.images) == 5 for job in done)
