"""The account's library: Organize (its finished images, searched and filtered, liked, hidden,
published or not, deleted) and Explore (everyone's public images, newest or most liked).

The FAQ's rules: hiding hides from the owner's own view only; unpublishing (stealth) is for
plans with stealth mode, and a stealth image is seen by its owner alone; likes are per account.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy.orm import Session

from dreamloom.domain import TERMINAL_STATUSES, Visibility
from dreamloom.service.errors import JOB_NOT_FOUND, ServiceError
from dreamloom.service.job_views import JobViews
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView, JobView
from dreamloom.store import jobs_repo
from dreamloom.store import library as library_repo
from dreamloom.store.library import LibraryFilter
from dreamloom.store.tables import Job

log = logging.getLogger(__name__)

PAGE_MAX = 100
STEALTH_NOT_ALLOWED = "Stealth mode is only available on the Pro and Mega plans"
STILL_RUNNING = "Job {job_id} is still running: cancel it or wait for it to finish"


class Aspect(StrEnum):
    PORTRAIT = "portrait"
    SQUARE = "square"
    LANDSCAPE = "landscape"


class ExploreSort(StrEnum):
    NEWEST = "newest"
    MOST_LIKED = "most_liked"
    LIKED = "liked"  # the Likes tab: others' images this account liked


class BulkAction(StrEnum):
    LIKE = "like"
    UNLIKE = "unlike"
    HIDE = "hide"
    UNHIDE = "unhide"
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"
    DELETE = "delete"


@dataclass(frozen=True)
class ArchiveQuery:
    text: str = ""  # every word must appear in the prompt
    liked: bool = False
    hidden: bool = False  # True: the hidden ones (the FAQ's "Hidden" filter) instead
    upscaled: bool = False
    aspect: Aspect | None = None
    version: str | None = None  # "7", "6.1", "niji 6"
    visibility: Visibility | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: datetime | None = None  # the page after the one that ended here
    limit: int = 30


@dataclass(frozen=True)
class LibraryItem:
    job: JobView
    likes: int
    liked: bool


@dataclass(frozen=True)
class LibraryPage:
    items: tuple[LibraryItem, ...]
    # Where the next page starts (``before``, or ``offset`` for most liked); None at the end.
    next_before: datetime | None = None
    next_offset: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Library:
    def __init__(self, runtime: Runtime, views: JobViews) -> None:
        self.db = runtime.db
        self.files = runtime.files
        self.plans = runtime.plans
        self._now = runtime.now
        self._views = views

    def archive(self, account: AccountView, query: ArchiveQuery) -> LibraryPage:
        limit = _limit(query.limit)
        f = LibraryFilter(
            account_id=account.id,
            words=tuple(query.text.split()),
            liked_by=account.id if query.liked else None,
            hidden=query.hidden,
            visibility=query.visibility,
            upscaled=query.upscaled,
            since=query.since,
            until=query.until,
        )
        keep = _keep(query.aspect, query.version)
        with self.db.session() as session:
            jobs = library_repo.list_library(
                session, f, limit=limit, before=query.before, keep=keep
            )
            items = self._items(session, account, jobs)
        more = len(jobs) == limit and jobs[-1].created if jobs else None
        return LibraryPage(items, next_before=more or None)

    def explore(
        self,
        account: AccountView,
        sort: ExploreSort = ExploreSort.NEWEST,
        *,
        before: datetime | None = None,
        offset: int = 0,
        limit: int = 30,
    ) -> LibraryPage:
        limit = _limit(limit)
        public = LibraryFilter(hidden=None, visibility=Visibility.PUBLIC)
        with self.db.session() as session:
            if sort is ExploreSort.MOST_LIKED:
                jobs = library_repo.most_liked(session, public, limit=limit, offset=offset)
                items = self._items(session, account, jobs)
                return LibraryPage(
                    items, next_offset=offset + limit if len(jobs) == limit else None
                )
            if sort is ExploreSort.LIKED:
                public = replace(public, liked_by=account.id)
            jobs = library_repo.list_library(session, public, limit=limit, before=before)
            items = self._items(session, account, jobs)
        more = jobs[-1].created if len(jobs) == limit else None
        return LibraryPage(items, next_before=more)

    def apply(self, account: AccountView, job_ids: Sequence[str], action: BulkAction) -> int:
        """One action on several jobs, all or none; returns how many it changed."""
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            raise ServiceError("Select at least one image")
        if action is BulkAction.UNPUBLISH and not self.plans.get(account.plan).stealth_allowed:
            raise ServiceError(STEALTH_NOT_ALLOWED, 403)
        removed: list[str] = []
        with self.db.session(write=True) as session:
            jobs = [self._reachable(session, account, job_id, action) for job_id in ids]
            now = self._now()
            if action in (BulkAction.LIKE, BulkAction.UNLIKE):
                for job in jobs:
                    library_repo.set_like(
                        session, account.id, job.id, action is BulkAction.LIKE, now
                    )
            elif action in (BulkAction.HIDE, BulkAction.UNHIDE):
                library_repo.set_hidden(session, ids, action is BulkAction.HIDE)
            elif action in (BulkAction.PUBLISH, BulkAction.UNPUBLISH):
                visibility = (
                    Visibility.PUBLIC if action is BulkAction.PUBLISH else Visibility.STEALTH
                )
                library_repo.set_visibility(session, ids, visibility)
            else:
                for job in jobs:
                    if job.status not in TERMINAL_STATUSES:
                        raise ServiceError(STILL_RUNNING.format(job_id=job.id), 409)
                removed = library_repo.delete_jobs(session, ids)
        for path in removed:  # after the commit: a failed transaction deletes no file
            self.files.delete(path)
        return len(ids)

    def files_of(self, account: AccountView, job_ids: Sequence[str]) -> list[tuple[str, Path]]:
        """(file name, path) of each picture of the account's jobs, for a download."""
        if not job_ids:
            raise ServiceError("Select at least one image")
        if len(job_ids) > PAGE_MAX * 5:
            raise ServiceError(f"Download at most {PAGE_MAX * 5} jobs at once")
        files: list[tuple[str, Path]] = []
        with self.db.session() as session:
            for job_id in dict.fromkeys(job_ids):
                job = jobs_repo.get_job(session, job_id)
                if job is None or job.account_id != account.id:
                    raise ServiceError(JOB_NOT_FOUND, 404)
                for image in jobs_repo.images_of_job(session, job_id):
                    name = (
                        f"{job_id}_grid.png" if image.index == 0 else f"{job_id}_{image.index}.png"
                    )
                    files.append((name, self.files.resolve(image.path)))
        return files

    def with_likes(self, account: AccountView, jobs: Sequence[JobView]) -> list[LibraryItem]:
        """Jobs the caller already read, with their likes (all accounts') and the account's."""
        ids = [job.id for job in jobs]
        with self.db.session() as session:
            counts = library_repo.like_counts(session, ids)
            mine = library_repo.liked_by(session, account.id, ids)
        return [LibraryItem(job, counts.get(job.id, 0), job.id in mine) for job in jobs]

    def _reachable(
        self, session: Session, account: AccountView, job_id: str, action: BulkAction
    ) -> Job:
        """The job an action may touch: the account's own; for likes, any public one too."""
        job = jobs_repo.get_job(session, job_id)
        if job is None:
            raise ServiceError(JOB_NOT_FOUND, 404)
        own = job.account_id == account.id
        likeable = (
            action in (BulkAction.LIKE, BulkAction.UNLIKE) and job.visibility == Visibility.PUBLIC
        )
        if not (own or likeable):
            raise ServiceError(JOB_NOT_FOUND, 404)
        return job

    def _items(
        self, session: Session, account: AccountView, jobs: Sequence[Job]
    ) -> tuple[LibraryItem, ...]:
        ids = [job.id for job in jobs]
        counts = library_repo.like_counts(session, ids)
        mine = library_repo.liked_by(session, account.id, ids)
        return tuple(
            LibraryItem(self._views.of(session, job), counts.get(job.id, 0), job.id in mine)
            for job in jobs
        )


def _limit(limit: int) -> int:
    return max(1, min(PAGE_MAX, limit))


def _keep(aspect: Aspect | None, version: str | None) -> library_repo.Keep | None:
    if aspect is None and version is None:
        return None

    def keep(job: Job) -> bool:
        params = (job.prompt or {}).get("params") or {}
        same_version = version is None or str(params.get("version")) == version
        return same_version and (aspect is None or _aspect_of(params.get("aspect")) is aspect)

    return keep


def _aspect_of(value: object) -> Aspect:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return Aspect.SQUARE
    width, height = (int(v) for v in value)
    if width == height:
        return Aspect.SQUARE
    return Aspect.LANDSCAPE if width > height else Aspect.PORTRAIT
