"""User images in (describe, blend): fetched or uploaded safely, and /describe itself.

Every image a user hands over goes through ``dreamloom.safety``: URLs are fetched only over
http(s), never from private addresses unless the operator allows it, and both URLs and
uploads are size- and pixel-limited and sniffed before decoding; at most
``Settings.image_decodes`` pictures are decoded at once.

Describe is a job like any other: the checked file is stored with the job (its recipe, in the
database) in the admission transaction, so the 201 promises a job that a restart re-runs; the
dispatcher runs it on a worker, charges its measured time and records the four prompts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PIL import Image

from dreamloom.engine.describe import DescribeRecipe
from dreamloom.safety import FetchError, FetchPolicy, fetch_image, load_upload
from dreamloom.service.accounts import Accounts
from dreamloom.service.admission import Admission
from dreamloom.service.errors import ServiceError
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView, JobView
from dreamloom.store.jobs_repo import JobSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageInput:
    """One image of a request: a URL to fetch or uploaded bytes (exactly one of them)."""

    url: str | None = None
    blob: bytes | None = None


class Media:
    def __init__(self, runtime: Runtime, accounts: Accounts, admission: Admission) -> None:
        self.settings = runtime.settings
        self.decodes = runtime.decodes
        self._accounts = accounts
        self._admission = admission

    @property
    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(
            allow_private=self.settings.allow_private_urls,
            allowed_hosts=frozenset(self.settings.allowed_hosts),
            max_pixels=self.settings.image_max_pixels,
            decodes=self.decodes,
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
        """Queue a describe: four prompts that could have made the image.

        The image is checked (and decoded once, to refuse a damaged file with a 400) here;
        the job stores the file itself, as received."""
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        # Only the file is kept: the decoded picture (the request's largest allocation) is
        # dropped here rather than held while the job is admitted.
        data = self.load_image(source)[1]
        spec = JobSpec(
            verb="describe",
            mode=str(account.settings.get("mode") or "fast"),
            job_type="text",
            recipe=DescribeRecipe(image=data).to_dict(),
            request=request,
        )
        (view,) = self._admission.admit(account, [spec], channel, job_type="text")
        return view
