"""How a job is shown to clients: its images, children, buttons and captions as one view.

Every use-case that answers with a job (submissions, buttons, commands, media, reading) builds
it here, so a job reads the same whichever way it was reached.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from dreamloom.domain import JobStatus
from dreamloom.jobs.buttons import SPLITS, action_of_job, buttons_for, result_kind
from dreamloom.prompt.versions import DEFAULT_VERSION
from dreamloom.service.views import AccountView, ImageView, JobView
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import jobs_repo
from dreamloom.store.files import ImageFiles
from dreamloom.store.jobs_repo import JobLike


class JobViews:
    def __init__(self, files: ImageFiles) -> None:
        self.files = files

    def of(self, session: Session, job: JobLike, *, account: AccountView | None = None) -> JobView:
        """The view of ``job`` with its images and children, read in ``session``."""
        images = tuple(
            ImageView(
                index=img.index,
                path=self.files.resolve(img.path),
                width=img.width,
                height=img.height,
                seed=img.seed,
                id=img.id,
                visibility=img.visibility,
                key=img.key,
            )
            for img in jobs_repo.images_of_job(session, job.id)
        )
        children = tuple(jobs_repo.children_of(session, job.id))
        if account is not None and account.id == job.account_id:
            account_name = account.name
        else:
            row = accounts_repo.get_account(session, job.account_id)
            account_name = row.name if row is not None else ""
        return self._view_of(job, images, children, account_name)

    def new(self, job: JobLike, *, account: AccountView) -> JobView:
        """The view of a job just queued by ``account``: no images or children yet, so no
        database needed (built after admission's commit, outside its write lock)."""
        return self._view_of(job, (), (), account.name)

    def _view_of(
        self,
        job: JobLike,
        images: tuple[ImageView, ...],
        children: tuple[tuple[str, str | None], ...],
        account_name: str,
    ) -> JobView:
        action = action_of_job(job.verb, job.button)
        return JobView(
            id=job.id,
            account_id=job.account_id,
            verb=job.verb,
            status=job.status,
            progress=job.progress,
            mode=job.mode_effective or job.mode_requested,
            prompt_text=job.prompt_text,
            seed=job.seed,
            error=job.error,
            gpu_seconds=job.gpu_seconds,
            cost_seconds=job.cost_seconds,
            images=images,
            job_type=job.job_type,
            button=job.button,
            parent_job_id=job.parent_job_id,
            channel=job.channel,
            created=job.created,
            updated=job.updated,
            visibility=job.visibility,
            hidden=job.hidden,
            request=dict(job.request or {}),
            response=dict(job.response or {}),
            preview_path=job.preview_path,
            children=children,
            buttons=tuple(self._buttons_of(job, images)),
            account_name=account_name,
            mode_requested=job.mode_requested,
            result=result_kind(job.verb, job.button),
            caption=action.caption if action is not None else "",
            split_index=action.index
            if action is not None and action.operation == "split"
            else None,
            executed_once=tuple((button, child) for child, button in children if button in SPLITS),
        )

    def _buttons_of(self, job: JobLike, images: Sequence[ImageView]) -> list[str]:
        if job.status != JobStatus.COMPLETED:
            return []
        kind = result_kind(job.verb, job.button)
        version = str(((job.prompt or {}).get("params") or {}).get("version") or DEFAULT_VERSION)
        single = next((img for img in images if img.index == 1), None)
        square = single is None or single.width == single.height
        return buttons_for(kind, version, square=square)
