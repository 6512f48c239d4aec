"""Admission with group commit: every queued submission of the process goes through one thread.

A submission is parsed, costed and moderated in the caller's thread; what needs the database
(the lane, the plan's rules against the account's active jobs and fast time, the INSERT) is
handed to the admission thread, which takes every submission waiting at that moment and admits
them in one write transaction: a handful of queries for the whole batch, one commit. Callers
waiting on SQLite's single write lock, each with its own ten queries, was what limited
submissions before (about 50 a second on two cores).

Batching does not change the rules: submissions are admitted in arrival order and each one
sees the ones admitted before it (``AccountLoad`` and the lane counts are updated in memory),
and nothing is answered before the commit, so an accepted job is never lost.

Under load SQLite's write lock is the one thing every process waits for, so a batch holds it
only for what must not change under it: the accounts' plans and active jobs, and the INSERT.
The lanes (kept up to ``LANE_CACHE_SECONDS``) and the fast-time balances (a second) are read
before it: a lane edited by another process meanwhile counts as edited after the batch, and
the dispatcher checks fast time again before a job starts. The answers are built after the
commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session

from dreamloom.jobs.scheduler import AdmissionError, queue_full_message
from dreamloom.jobs.submit import AccountLoad, check_submission, loads_of
from dreamloom.service.channels import Channels, lane_counts, reply_targets
from dreamloom.service.errors import ServiceError
from dreamloom.service.job_views import JobViews
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView, JobView
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import jobs_repo
from dreamloom.store.errors import StoreUnavailable
from dreamloom.store.jobs_repo import JobRow, JobSpec
from dreamloom.store.tables import Channel

log = logging.getLogger(__name__)

# Large enough to take everything that arrives while one batch commits under load; small
# enough that one transaction stays short.
MAX_BATCH = 128


@dataclass
class _Submission:
    account: AccountView
    specs: Sequence[JobSpec]
    channel: str | None
    job_type: str
    done: Future[list[JobView]] = field(default_factory=Future)


@dataclass
class _Task:
    """Other database work of a submission (a flagged prompt's record and strike), run by the
    admission thread so that a caller on an event loop never waits for the database."""

    run: Callable[[], list[JobView]]
    done: Future[list[JobView]] = field(default_factory=Future)


@dataclass
class _Batch:
    """What one transaction loaded about the accounts and lanes of its submissions."""

    plans: dict[int, str]  # account id -> plan name
    loads: dict[int, AccountLoad]
    lanes: dict[int, list[Channel]]
    counts: Counter[tuple[str, str]]
    fast: dict[int, float]


class Admission:
    """The admission thread and its batches; the one way queued jobs enter the database."""

    def __init__(self, runtime: Runtime, channels: Channels, views: JobViews) -> None:
        self.db = runtime.db
        self.plans = runtime.plans
        self._now = runtime.now
        self._announce = runtime.announce
        self._fast_balances = runtime.fast_balances
        self._channels = channels
        self._views = views
        self._admissions: queue.Queue[_Submission | _Task | None] = queue.Queue()
        self._admission_thread: threading.Thread | None = None
        self._admission_lock = threading.Lock()

    def stop(self) -> None:
        with self._admission_lock:
            thread, self._admission_thread = self._admission_thread, None
        if thread is not None:
            self._admissions.put(None)
            thread.join(timeout=30)

    def admit(
        self,
        account: AccountView,
        specs: Sequence[JobSpec],
        channel: str | None,
        *,
        job_type: str = "image",
    ) -> list[JobView]:
        """Queue one submission's jobs (raises ServiceError with the user's text)."""
        return self.admit_later(account, specs, channel, job_type=job_type).result()

    def admit_later(
        self,
        account: AccountView,
        specs: Sequence[JobSpec],
        channel: str | None,
        *,
        job_type: str = "image",
    ) -> Future[list[JobView]]:
        """``admit`` without waiting: the jobs' views, or the ServiceError, come in the future."""
        submission = _Submission(account, specs, channel, job_type)
        self._admission_worker()
        self._admissions.put(submission)
        return submission.done

    def on_admission_thread(self, run: Callable[[], list[JobView]]) -> Future[list[JobView]]:
        task = _Task(run)
        self._admission_worker()
        self._admissions.put(task)
        return task.done

    def _admission_worker(self) -> None:
        with self._admission_lock:
            if self._admission_thread is None or not self._admission_thread.is_alive():
                self._admission_thread = threading.Thread(
                    target=self._admission_loop, name="dreamloom-admission", daemon=True
                )
                self._admission_thread.start()

    def _admission_loop(self) -> None:
        while True:
            first = self._admissions.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._admissions.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._admissions.put(None)  # stop after this batch
                    break
                batch.append(more)
            submissions = [item for item in batch if isinstance(item, _Submission)]
            if submissions:
                self._admit_batch(submissions)
            for item in batch:
                if isinstance(item, _Task):
                    self._run_task(item)

    @staticmethod
    def _run_task(task: _Task) -> None:
        try:
            task.done.set_result(task.run())
        except ServiceError as err:
            task.done.set_exception(err)
        except Exception as exc:
            log.exception("admission task failed")
            task.done.set_exception(exc)

    def _admit_batch(self, batch: list[_Submission]) -> None:
        try:
            outcomes = self._admit_together(batch)
        except StoreUnavailable as exc:
            # The database takes no write now (its lock held too long, a full disk): one at a
            # time would only wait as long again for each. Nothing was admitted.
            for submission in batch:
                submission.done.set_exception(exc)
            return
        except Exception as exc:
            if len(batch) > 1:
                # One submission's database error must not fail the others: alone each.
                for submission in batch:
                    self._admit_batch([submission])
                return
            log.exception("admission failed")
            batch[0].done.set_exception(exc)
            return
        admitted: list[JobRow] = []
        for submission, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, ServiceError):
                submission.done.set_exception(outcome)
            else:
                jobs, views = outcome
                admitted.extend(jobs)
                submission.done.set_result(views)
        if admitted:
            self._announce(admitted)

    def _admit_together(
        self, batch: list[_Submission]
    ) -> list[ServiceError | tuple[list[JobRow], list[JobView]]]:
        """One transaction for the batch; a refused submission's outcome is its error."""
        lanes, fast = self._read_batch(batch)
        with self.db.session(write=True) as session:
            loaded = self._load_batch(session, batch, lanes, fast)
            admitted: list[ServiceError | list[JobRow]] = []
            for submission in batch:
                try:
                    admitted.append(self._admit_one(session, loaded, submission))
                except ServiceError as err:
                    admitted.append(err)
            session.flush()  # a lane made on the way
            jobs_repo.insert_jobs(
                session,
                [job for outcome in admitted if isinstance(outcome, list) for job in outcome],
            )  # every admitted job in one INSERT
        return [
            outcome
            if isinstance(outcome, ServiceError)
            else (
                outcome,
                [self._views.new(job, account=submission.account) for job in outcome],
            )
            for submission, outcome in zip(batch, admitted, strict=True)
        ]

    def _read_batch(
        self, batch: list[_Submission]
    ) -> tuple[dict[int, list[Channel]], dict[int, float]]:
        """What a batch needs that may be read before the write lock: the accounts' lanes and
        the fast time of those asking for fast work. Both are usually cached; the database is
        read only for what is not."""
        ids = sorted({s.account.id for s in batch})
        lanes = self._channels.recent_lanes(ids)
        needs_fast = {s.account.id for s in batch if any(spec.mode != "relax" for spec in s.specs)}
        fast = self._fast_balances.cached(needs_fast)
        unread = [account_id for account_id in ids if account_id not in lanes]
        uncosted = sorted(needs_fast - fast.keys())
        if unread or uncosted:
            with self.db.session() as session:
                if unread:
                    fresh = self._channels.lanes_by_account(session, unread)
                    self._channels.remember_lanes(fresh)
                    lanes |= fresh
                if uncosted:
                    accounts = accounts_repo.accounts_by_ids(session, uncosted)
                    fast |= self._fast_balances.remaining(session, accounts, self._now())
        return lanes, fast

    def _load_batch(
        self,
        session: Session,
        batch: list[_Submission],
        lanes: dict[int, list[Channel]],
        fast: dict[int, float],
    ) -> _Batch:
        ids = sorted({s.account.id for s in batch})
        # Row locks in id order (PostgreSQL): two admitting processes cannot deadlock, and
        # two submissions of one account cannot both take its last queue place.
        plans = accounts_repo.lock_plans(session, ids)
        # An account without lanes gets its default lane made in this transaction: look
        # again under the lock, another process may have made it meanwhile.
        missing = [account_id for account_id in ids if not lanes.get(account_id)]
        if missing:
            lanes = lanes | self._channels.lanes_by_account(session, missing)
        groups = jobs_repo.active_groups(session, ids)
        return _Batch(
            plans=plans,
            loads=loads_of(groups, ids),
            lanes=lanes,
            counts=lane_counts(groups),
            fast=fast,
        )

    def _admit_one(self, session: Session, loaded: _Batch, submission: _Submission) -> list[JobRow]:
        account = submission.account
        if account.id not in loaded.plans:
            raise ServiceError("Unauthorized", 401)
        own = loaded.lanes[account.id]
        candidates = self._channels.candidates(session, account, submission.channel, own)
        if not own and submission.channel is None:
            loaded.lanes[account.id] = candidates  # the default lane just made
        jobs = len(submission.specs)
        chosen = self._channels.choose(
            account, candidates, loaded.counts, jobs, submission.job_type
        )
        lane = next((c for c in candidates if c.id == chosen), None)
        placed = [
            replace(
                spec,
                channel=chosen,
                job_type=submission.job_type,
                deliveries=reply_targets(spec.request, lane),
            )
            for spec in submission.specs
        ]
        plan = self.plans.get(loaded.plans[account.id])
        load = loaded.loads[account.id]
        try:
            check_submission(plan, placed, load, loaded.fast.get(account.id, 0.0))
        except AdmissionError as err:
            # A full queue is a matter of waiting (429), anything else of the request.
            status = 429 if err.message == queue_full_message(plan) else 400
            raise ServiceError(err.message, status) from None
        created = jobs_repo.new_jobs(account.id, placed, self._now())
        load.add(jobs)
        loaded.counts[(chosen, "*")] += jobs
        loaded.counts[(chosen, submission.job_type)] += jobs
        return created
