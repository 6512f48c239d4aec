"""Pressing a button on a completed job, and /seed.

U1-U4 split an image out of the grid: free, instant, and execute-once (pressing again returns
the same child). Every other button queues an engine job (``jobs.button_recipes``) in the
parent's channel. /seed is execute-once too and needs no worker.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from dreamloom.domain import JobStatus
from dreamloom.engine import Recipe, recipe_for_imagine
from dreamloom.engine.masks import check_mask_pixels
from dreamloom.jobs.button_recipes import ButtonInputError, recipe_for_button, split_zoom
from dreamloom.jobs.buttons import (
    CUSTOM_ZOOM,
    REMIX_BUTTONS,
    ButtonAction,
    UnknownButtonError,
    action_for,
    is_video_button,
    result_kind,
)
from dreamloom.prompt import Prompt, PromptError
from dreamloom.service.accounts import Accounts
from dreamloom.service.admission import Admission
from dreamloom.service.channels import Channels
from dreamloom.service.errors import PARENT_EXPIRED, PARENT_NOT_FOUND, ServiceError
from dreamloom.service.job_views import JobViews
from dreamloom.service.moderation import Moderation
from dreamloom.service.reading import Reading
from dreamloom.service.runtime import Runtime
from dreamloom.service.submissions import Submissions, new_seed
from dreamloom.service.views import AccountView, JobView
from dreamloom.store import jobs_repo
from dreamloom.store.jobs_repo import ImageSpec, JobSpec
from dreamloom.store.tables import Image, Job

VIDEO_UNSUPPORTED = "{button} is not supported on this server: it needs video generation"
# The FAQ: Vary (Region) "cannot be used on images made with --oref, even after removing --oref
# from the prompt".
OREF_REGION = (
    "Vary (Region) cannot be used on images made with --oref, "
    "even after removing --oref from the prompt"
)


class Buttons:
    def __init__(
        self,
        runtime: Runtime,
        accounts: Accounts,
        channels: Channels,
        moderation: Moderation,
        admission: Admission,
        submissions: Submissions,
        reading: Reading,
        views: JobViews,
    ) -> None:
        self.db = runtime.db
        self.settings = runtime.settings
        self.files = runtime.files
        self.catalog = runtime.catalog
        self.decodes = runtime.decodes
        self._accounts = accounts
        self._channels = channels
        self._moderation = moderation
        self._admission = admission
        self._submissions = submissions
        self._reading = reading
        self._views = views

    def press_button(
        self,
        account: AccountView,
        parent_id: str,
        button: str,
        *,
        prompt: str | None = None,
        mask: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> tuple[JobView, bool]:
        """Run a button of a completed job; returns the job and whether it is new (False: an
        execute-once button pressed again)."""
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        if is_video_button(button):
            raise ServiceError(VIDEO_UNSUPPORTED.format(button=button))
        try:
            action = action_for(button)
        except UnknownButtonError:
            raise ServiceError(f"Unknown button {button!r}") from None
        with self.db.session() as session:
            parent = self._completed_parent(session, account, parent_id, "press a button")
            offered = self._views.of(session, parent).buttons
            if button not in offered:
                available = ", ".join(offered) or "none"
                raise ServiceError(
                    f"Button {button} is not available for job {parent_id}; "
                    f"available buttons: {available}"
                )
            if action.operation == "region" and _made_with_oref(session, parent):
                raise ServiceError(OREF_REGION)
            if action.operation == "split":
                existing = jobs_repo.first_child(session, parent.id, "button", button)
                if existing is not None:
                    return self._views.of(session, existing), False
        self._check_prompt_allowed(account, button, prompt)
        if action.operation == "split":
            return self._split(account, parent, action, button, request), True
        return self._queue_button(account, parent, action, button, prompt, mask, request), True

    def get_seed(
        self, account: AccountView, parent_id: str, *, request: dict[str, Any] | None = None
    ) -> tuple[JobView, bool]:
        """The seed of a completed image job with its images, once per job (execute-once)."""
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        with self.db.session(write=True) as session:
            parent = self._completed_parent(session, account, parent_id, "get seed")
            existing = jobs_repo.first_child(session, parent.id, "seed", None)
            if existing is not None:
                return self._views.of(session, existing), False
            singles = [img for img in jobs_repo.images_of_job(session, parent.id) if img.index]
            content = f"**{parent.prompt_text}**\n**Job ID**: {parent.id}\n**seed** {parent.seed}"
            spec = JobSpec(
                verb="seed",
                mode=parent.mode_effective or parent.mode_requested,
                prompt_text=parent.prompt_text,
                prompt=parent.prompt,
                seed=parent.seed,
                job_type="text",
                parent_job_id=parent.id,
                visibility=parent.visibility,
                request=request,
                channel=parent.channel,
            )
            job = self._submissions.instant(
                session,
                account,
                spec,
                images=[_same_image(img, i) for i, img in enumerate(singles, start=1)],
                response={"content": content, "seed": parent.seed},
            )
            view = self._views.of(session, job)
        self._submissions.announce_instant(job)
        return view, True

    # -- helpers -------------------------------------------------------------------------------

    def _completed_parent(
        self, session: Session, account: AccountView, parent_id: str, doing: str
    ) -> Job:
        parent = self._reading.owned_job(
            session, parent_id, account, not_found=PARENT_NOT_FOUND, expired=PARENT_EXPIRED
        )
        if parent.status != JobStatus.COMPLETED:
            raise ServiceError(
                f'Parent job status is "{parent.status}", must be "completed" to {doing}'
            )
        if parent.job_type != "image":
            raise ServiceError(f"Job {parent_id} has no image to {doing} on")
        return parent

    def _check_prompt_allowed(self, account: AccountView, button: str, prompt: str | None) -> None:
        if button == CUSTOM_ZOOM:
            if not prompt:
                raise ServiceError("Parameter prompt is required for Custom Zoom")
            return
        if prompt is None:
            return
        if button not in REMIX_BUTTONS:
            raise ServiceError(f"Button {button} does not take a prompt")
        if not account.settings.get("remix"):
            raise ServiceError(
                f"Remix mode is off: turn it on (POST jobs/remix) to change the prompt of {button}"
            )

    def _split(
        self,
        account: AccountView,
        parent: Job,
        action: ButtonAction,
        button: str,
        request: dict[str, Any] | None,
    ) -> JobView:
        """U1-U4: the chosen grid image as a job of its own; no worker, no GPU time."""
        with self.db.session(write=True) as session:
            # Execute-once under the write lock: two simultaneous presses make one child.
            existing = jobs_repo.first_child(session, parent.id, "button", button)
            if existing is not None:
                return self._views.of(session, existing)
            source = self._grid_image(session, parent, action.index or 1)
            spec = JobSpec(
                verb="button",
                button=button,
                mode=parent.mode_effective or parent.mode_requested,
                prompt_text=parent.prompt_text,
                prompt=parent.prompt,
                # The recipe that made the picture: the buttons of the split build on it.
                recipe=parent.recipe,
                seed=source.seed if source.seed is not None else parent.seed,
                parent_job_id=parent.id,
                visibility=parent.visibility,
                request=request,
                channel=parent.channel,
            )
            job = self._submissions.instant(session, account, spec, images=[_same_image(source, 1)])
            view = self._views.of(session, job)
        self._submissions.announce_instant(job)
        return view

    def _queue_button(
        self,
        account: AccountView,
        parent: Job,
        action: ButtonAction,
        button: str,
        prompt_text: str | None,
        mask: str | None,
        request: dict[str, Any] | None,
    ) -> JobView:
        zoom: float | None = None
        if prompt_text is not None:
            try:
                prompt_text, zoom = split_zoom(prompt_text)
            except ButtonInputError as err:
                raise ServiceError(str(err)) from None
        remix = self._remix_prompt(account, prompt_text)
        prompt = remix or self._parent_prompt(account, parent)
        if action.operation == "remaster":
            # The same prompt and seed again on the newest version this server serves.
            newest = self.catalog.newest()
            if newest is None:
                raise ServiceError(
                    f"Remaster is not available here: this server has {self.catalog.served()}"
                )
            params = replace(prompt.params, version=newest.version, niji=False)
            prompt = replace(prompt, params=params)
        spec = self._button_spec(parent, button, prompt, remixed=remix is not None)
        if remix is not None and not self._moderation.check_prompt(remix).allowed:
            return self._submissions.moderated(account, spec, self._channels.live(parent.channel))
        seed = _button_seed(action, parent, prompt)
        response: dict[str, Any] = {}
        # A button keeps the parent's references; a Remix prompt brings its own.
        references = Recipe.from_dict(parent.recipe).references if parent.recipe else ()
        if remix is not None:
            self._submissions.check_references(remix)
            references = self._submissions.references(account, remix)
        if action.operation in ("reroll", "remaster"):
            recipe = recipe_for_imagine(
                prompt, self._submissions.model_for(prompt), seed, references
            )
        else:
            parent_recipe = Recipe.from_dict(parent.recipe or {})
            # A picture's buttons run on the model that made it (the recipe names it).
            info = self.catalog.info_of_ref(parent_recipe.model, self.settings.models_dir)
            with self.db.session() as session:
                image = self._source_image(session, parent, action)
                response["_source_image"] = image.id
                spec = replace(spec, grid_seconds=self._grid_seconds(session, parent))
                image_png = self.files.read(image.path)
            try:
                if mask is not None:
                    check_mask_pixels(mask, self.settings.image_max_pixels)
                # Decodes the picture and the user's mask: one of the bounded decodes.
                with self.decodes.held():
                    recipe = recipe_for_button(
                        action,
                        parent_recipe,
                        image_png,
                        seed=seed,
                        info=info,
                        prompt=remix,
                        variability=str(account.settings.get("variability") or "high"),
                        mask=mask,
                        zoom=zoom,
                    )
            except (ButtonInputError, ValueError) as err:
                raise ServiceError(str(err)) from None
            recipe = replace(recipe, references=references)
        spec = replace(
            spec,
            mode=self._submissions.speed_mode(account, prompt),
            recipe=recipe.to_dict(),
            seed=seed,
            request=request,
            response=response or None,
        )
        (view,) = self._admission.admit(account, [spec], self._channels.live(parent.channel))
        return view

    def _button_spec(
        self, parent: Job, button: str, prompt: Prompt, *, remixed: bool = False
    ) -> JobSpec:
        return JobSpec(
            verb="button",
            button=button,
            mode=parent.mode_requested,
            prompt_text=prompt.normalized() if remixed else parent.prompt_text,
            prompt=prompt.to_dict(),
            draft=prompt.params.draft,
            parent_job_id=parent.id,
            visibility=parent.visibility,
        )

    def _parent_prompt(self, account: AccountView, parent: Job) -> Prompt:
        try:
            return Prompt.from_dict(parent.prompt or {})
        except PromptError:
            return self._submissions.parse(account, parent.prompt_text or "image")[0]

    def _remix_prompt(self, account: AccountView, text: str | None) -> Prompt | None:
        """The prompt the user edited (Remix, Custom Zoom); None to keep the parent's."""
        if text is None or not text.strip():
            return None
        prompts = self._submissions.parse(account, text)
        if len(prompts) > 1:
            raise ServiceError("A Remix prompt makes one job: permutations are not allowed here")
        (prompt,) = prompts
        # `--sref random` and `--p` settle to codes here, as in a new prompt.
        seed = prompt.params.seed
        return self._submissions.settle(account, prompt, new_seed() if seed is None else seed)

    def _grid_seconds(self, session: Session, job: Job | None) -> float | None:
        """Measured seconds of the grid a picture came from (buttons are priced against it)."""
        for _ in range(16):
            if job is None:
                return None
            if result_kind(job.verb, job.button) == "grid" and job.gpu_seconds > 0:
                return float(job.gpu_seconds)
            job = jobs_repo.get_job(session, job.parent_job_id) if job.parent_job_id else None
        return None

    def _grid_image(self, session: Session, parent: Job, index: int) -> Image:
        for image in jobs_repo.images_of_job(session, parent.id):
            if image.index == index:
                return image
        raise ServiceError(f"Job {parent.id} has no image {index}")

    def _source_image(self, session: Session, parent: Job, action: ButtonAction) -> Image:
        """The image a button works on: image N of a grid for V1-V4, the parent's single
        image otherwise, and for a Redo the image the upscale itself started from."""
        if action.redo:
            source_id = (parent.response or {}).get("_source_image")
            image = jobs_repo.get_image(session, source_id) if source_id is not None else None
            if image is not None:
                return image
        return self._grid_image(session, parent, action.index or 1)


def _made_with_oref(session: Session, job: Job) -> bool:
    """Whether the job's pictures come from an `--oref` job: its own prompt or any ancestor's
    (a U split or a remix without --oref still shows the omni reference's subject)."""
    seen: set[str] = set()
    current: Job | None = job
    while current is not None and current.id not in seen:
        seen.add(current.id)
        if (current.prompt or {}).get("params", {}).get("oref") is not None:
            return True
        parent_id = current.parent_job_id
        current = None if parent_id is None else jobs_repo.get_job(session, parent_id)
    return False


def _button_seed(action: ButtonAction, parent: Job, prompt: Prompt) -> int:
    """The seed of a button's job. 🔄 draws a new one, so the grid is new, unless the prompt
    fixes ``--seed``: the seeds' early FAQ answers "Does submitting the job again use a
    different seed?" with "Yes, unless you specify --seed with a number" (a Remix prompt's own
    ``--seed``, or its absence, decides). Remaster redraws the same seed on a newer model;
    every other button works from a picture with a new seed (a Redo upscale refines anew)."""
    if action.operation == "reroll" and prompt.params.seed is not None:
        return int(prompt.params.seed)
    if action.operation == "remaster" and parent.seed:
        return int(parent.seed)
    return new_seed()


def _same_image(image: Image, index: int) -> ImageSpec:
    """Another job's row for an existing image file (splits and seed copy no pixels)."""
    return jobs_repo.shared_image(image, index)
