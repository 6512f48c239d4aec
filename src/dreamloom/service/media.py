"""User images in (describe, blend): fetched or uploaded safely, and /describe itself.

Every image a user hands over goes through ``dreamloom.safety``: URLs are fetched only over
http(s), never from private addresses unless the operator allows it, and both URLs and
uploads are size- and pixel-limited and sniffed before decoding.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image

from dreamloom.safety import FetchError, FetchPolicy, fetch_image, load_upload
from dreamloom.service.accounts import Accounts
from dreamloom.service.channels import Channels
from dreamloom.service.errors import ServiceError
from dreamloom.service.job_views import JobViews
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView, JobView
from dreamloom.store import jobs_repo
from dreamloom.store.jobs_repo import JobSpec

log = logging.getLogger(__name__)

_NUMBERS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣")


@dataclass(frozen=True)
class ImageInput:
    """One image of a request: a URL to fetch or uploaded bytes (exactly one of them)."""

    url: str | None = None
    blob: bytes | None = None


def aspect_text(width: int, height: int) -> str:
    divisor = math.gcd(width, height) or 1
    return f"--ar {width // divisor}:{height // divisor}"


def describe_image(image: Image.Image) -> list[str]:
    """Four prompts from the bundled model; from measuring the pixels alone where its
    weights are not installed (a source checkout that has not built them)."""
    try:
        # The submodule, not the package's wrapper: importing the submodule replaces the
        # package attribute of the same name.
        from dreamloom.bundled import default_model
        from dreamloom.bundled.describe import describe

        return describe(default_model(), image)[:4]
    except (OSError, ImportError):
        log.warning("bundled model unavailable; describing from pixel analysis only")
    from dreamloom.bundled.analysis import analyse

    facts = analyse(image)
    colour = f"{facts.hue} " if facts.hue else ""
    where = "" if facts.position == "centre" else f" at the {facts.position}"
    return [
        f"a {colour}shape on a {facts.background} background",
        f"a simple {colour}icon{where}, {facts.background} backdrop",
        f"minimal flat illustration, {colour or 'muted '}tones on {facts.background}",
        f"abstract composition{where}, {facts.background} and {colour or 'grey '}colours",
    ]


class Media:
    def __init__(
        self, runtime: Runtime, accounts: Accounts, channels: Channels, views: JobViews
    ) -> None:
        self.db = runtime.db
        self.settings = runtime.settings
        self._now = runtime.now
        self._publish = runtime.publish
        self._accounts = accounts
        self._channels = channels
        self._views = views
        # Describe runs beside the request threads, one at a time: its model is small and a
        # queue of describes must not take every request thread.
        self._local_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dreamloom-local")

    def stop(self) -> None:
        self._local_pool.shutdown(wait=False, cancel_futures=True)

    @property
    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(
            allow_private=self.settings.allow_private_urls,
            allowed_hosts=frozenset(self.settings.allowed_hosts),
        )

    def load_image(self, source: ImageInput) -> tuple[Image.Image, bytes]:
        """Decode a user's image (fetching a URL first); 400 with the reason when refused."""
        try:
            if source.blob is not None:
                fetched = load_upload(source.blob, self.fetch_policy)
            elif source.url:
                fetched = fetch_image(source.url, self.fetch_policy)
            else:
                raise ServiceError("Either imageUrl or imageBlob is required")
        except FetchError as err:
            raise ServiceError(str(err)) from None
        return fetched.image, fetched.data

    def describe(
        self,
        account: AccountView,
        source: ImageInput,
        *,
        request: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> JobView:
        """Four prompts that could have made the image; the job completes in the background."""
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        image, _ = self.load_image(source)
        spec = JobSpec(
            verb="describe",
            mode=str(account.settings.get("mode") or "fast"),
            job_type="text",
            request=request,
        )
        with self.db.session(write=True) as session:
            chosen = self._channels.pick(session, account, channel, 1, "text")
            (job,) = jobs_repo.create_jobs(session, account.id, [spec])
            job.channel = chosen
            # Started at once: the dispatcher only runs jobs with a recipe, and this one is
            # run here, so it must not look queued to it.
            job.status = jobs_repo.STARTED
            job.started = self._now()
            job.mode_effective = spec.mode
            session.flush()
            view = self._views.of(session, job)
        self._publish(job, jobs_repo.QUEUED)
        self._publish(job, jobs_repo.STARTED)
        self._local_pool.submit(self._run_describe, job.id, image.convert("RGB"))
        return view

    def _run_describe(self, job_id: str, image: Image.Image) -> None:
        try:
            prompts = [f"{p} {aspect_text(*image.size)}" for p in describe_image(image)]
        except Exception as exc:  # a bad image fails the job, not the server
            log.exception("describe failed for job %s", job_id)
            self._finish_local(job_id, error=f"Describe failed: {exc}")
            return
        text = "\n\n".join(f"{n} {p}" for n, p in zip(_NUMBERS, prompts, strict=False))
        response = {
            "content": text,
            "embeds": [{"description": text}],
            "prompts": prompts,
        }
        self._finish_local(job_id, response=response)

    def _finish_local(
        self, job_id: str, *, response: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        now = self._now()
        with self.db.session(write=True) as session:
            job = jobs_repo.get_job(session, job_id)
            if job is None:
                return
            if error is not None:
                done = jobs_repo.mark_failed(session, job_id, error, now)
            else:
                done = job_id in jobs_repo.complete_jobs(
                    session, [jobs_repo.Completion(job_id, 0.0, 0.0)], now
                )
                if done:
                    job.response = response
        if done:
            self._publish(
                job,
                jobs_repo.FAILED if error else jobs_repo.COMPLETED,
                progress=100,
                error=error,
            )
