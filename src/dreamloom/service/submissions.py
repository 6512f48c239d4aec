"""Submissions that queue work for the engine: imagine and blend.

Every queued job (button presses included) goes through ``Admission``, which picks the channel
(its capacity), checks the plan's rules (``jobs.submit``) and inserts the jobs, many
submissions to one transaction. Jobs that need no engine (splits, seed, settings commands) are
written completed in the caller's transaction instead (``Submissions.instant``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from dreamloom.domain import JobStatus, JobType, Verb, Visibility
from dreamloom.engine import ModelInfo, Recipe, Reference, ReferenceKind, recipe_for_imagine
from dreamloom.engine.catalog import VersionUnavailable
from dreamloom.engine.images import png_bytes
from dreamloom.engine.references import links_of, references_for
from dreamloom.jobs.button_recipes import ButtonInputError, recipe_for_blend
from dreamloom.prompt import Prompt, PromptContext, PromptError, parse_prompt, with_style_codes
from dreamloom.safety import FetchError, load_upload
from dreamloom.service.accounts import Accounts
from dreamloom.service.admission import Admission
from dreamloom.service.channels import Channels
from dreamloom.service.errors import ServiceError
from dreamloom.service.job_views import JobViews
from dreamloom.service.links import Links
from dreamloom.service.moderation import Moderation
from dreamloom.service.personalization import Personalization
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView, JobView
from dreamloom.store import jobs_repo
from dreamloom.store.jobs_repo import ImageSpec, JobSpec
from dreamloom.store.tables import Job

SEED_MAX = 4_294_967_295
PROMPT_MAX = 5000  # the reference's limit on the prompt field
BLEND_SHAPES = {"Portrait": "2:3", "Square": "1:1", "Landscape": "3:2"}
# How each kind of reference is written in a prompt, for messages.
REFERENCE_FLAGS = {
    ReferenceKind.IMAGE: "image prompts",
    ReferenceKind.STYLE: "--sref",
    ReferenceKind.CHARACTER: "--cref",
    ReferenceKind.OMNI: "--oref",
    ReferenceKind.PERSONAL: "--p",
}


def reference_kinds(prompt: Prompt) -> list[ReferenceKind]:
    """The kinds of reference a prompt asks for, in the order of REFERENCE_FLAGS."""
    params = prompt.params
    asked = {
        ReferenceKind.IMAGE: bool(prompt.image_prompts),
        ReferenceKind.STYLE: bool(params.sref) or params.style is not None,
        ReferenceKind.CHARACTER: bool(params.cref),
        ReferenceKind.OMNI: params.oref is not None,
        ReferenceKind.PERSONAL: params.personalize is not None,
    }
    return [kind for kind in REFERENCE_FLAGS if asked[kind]]


def settings_as_params(settings: dict[str, Any]) -> str:
    """An account's /settings as parameter text: the lowest-precedence part of every prompt."""
    parts: list[str] = []
    # The speed mode goes in as a parameter so that the prompt layer applies the relax rules
    # (no batches in relax) to accounts in relax mode too; a prompt's own --fast still wins.
    if settings.get("mode") in ("fast", "relax", "turbo"):
        parts.append(f"--{settings['mode']}")
    if settings.get("stealth"):
        parts.append("--stealth")
    if settings.get("version"):
        parts.append(f"--v {settings['version']}")
    if settings.get("stylize") is not None:
        parts.append(f"--s {settings['stylize']}")
    if settings.get("raw"):
        parts.append("--raw")
    # Personalization on: every prompt gets --p, the account's current profile (support FAQ:
    # the /settings toggle stands for --p); a prompt's own --p codes still win.
    if settings.get("personalization"):
        parts.append("--p")
    return " ".join(parts)


def new_seed() -> int:
    return random.SystemRandom().randint(0, SEED_MAX)


class Submissions:
    """Prompts in (imagine, blend), and what every submission shares: parsing, speed mode,
    visibility, a flagged prompt's record, and jobs written completed at once."""

    def __init__(
        self,
        runtime: Runtime,
        accounts: Accounts,
        channels: Channels,
        moderation: Moderation,
        admission: Admission,
        views: JobViews,
        links: Links,
        personalization: Personalization,
    ) -> None:
        self.db = runtime.db
        self._files = runtime.files
        self.plans = runtime.plans
        self.catalog = runtime.catalog
        self.decodes = runtime.decodes
        self._now = runtime.now
        self._publish = runtime.publish
        self._accounts = accounts
        self._channels = channels
        self._moderation = moderation
        self._admission = admission
        self._views = views
        self._links = links
        self._personal = personalization

    def prompt_context(self, account: AccountView) -> PromptContext:
        settings = account.settings
        return PromptContext(
            settings=settings_as_params(settings),
            suffix=str(settings.get("suffix") or ""),
            option_sets=dict(settings.get("option_sets") or {}),
            batch_cap=self.plans.get(account.plan).batch_cap,
        )

    def parse(self, account: AccountView, text: str) -> list[Prompt]:
        if len(text) > PROMPT_MAX:
            raise ServiceError(f"Parameter prompt must be at most {PROMPT_MAX} characters")
        try:
            return parse_prompt(text, self.prompt_context(account))
        except PromptError as err:
            raise ServiceError(err.message, 400) from None

    def submit_imagine(
        self,
        account: AccountView,
        prompt_text: str,
        *,
        request: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> list[JobView]:
        """Validate, moderate, cost and admit a prompt; one job per expanded prompt."""
        return self.queue_imagine(account, prompt_text, request=request, channel=channel).result()

    def queue_imagine(
        self,
        account: AccountView,
        prompt_text: str,
        *,
        request: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> Future[list[JobView]]:
        """``submit_imagine`` without waiting for the database: the checks that need none
        happen here (raising ServiceError), admission's outcome comes in the future. Safe to
        call on an event loop."""
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        prompts = self.parse(account, prompt_text)
        for prompt in prompts:
            self.check_references(prompt)
        if any(links_of(p) or p.params.personalize is not None for p in prompts):
            # Reading the linked pictures takes network time, and --p reads profiles from the
            # database: not on the caller's event loop.
            return self._links.pool.submit(
                lambda: self._queue_prompts(account, prompts, request, channel).result()
            )
        return self._queue_prompts(account, prompts, request, channel)

    def _queue_prompts(
        self,
        account: AccountView,
        prompts: list[Prompt],
        request: dict[str, Any] | None,
        channel: str | None,
    ) -> Future[list[JobView]]:
        mode = self.speed_mode(account, prompts[0])
        specs = [self._imagine_spec(account, p, mode, request) for p in prompts]
        flagged = next(
            (spec for prompt, spec in zip(prompts, specs, strict=True)
             if not self._moderation.check_prompt(prompt).allowed),
            None,
        )  # fmt: skip
        if flagged is not None:
            return self._admission.on_admission_thread(
                lambda: [self.moderated(account, flagged, channel)]
            )
        return self._admission.admit_later(account, specs, channel)

    def submit_blend(
        self,
        account: AccountView,
        images: Sequence[bytes],
        dimensions: str = "Square",
        *,
        request: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> JobView:
        """Blend 2-5 images into one grid (Portrait 2:3, Square 1:1 or Landscape 3:2)."""
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        if len(images) < 2:
            raise ServiceError("At least 2 images are required for blend")
        if len(images) > 5:
            raise ServiceError("At most 5 images can be blended")
        if dimensions not in BLEND_SHAPES:
            raise ServiceError("blendDimensions must be Portrait, Square or Landscape")
        # The account's settings (version, stylize, mode) apply; the blend has no text.
        (parsed,) = self.parse(account, f"blend --ar {BLEND_SHAPES[dimensions]}")
        prompt = replace(parsed, text="", parts=())
        seed = new_seed()
        try:
            with self.decodes.held():  # decodes every input again, to mix them
                recipe = recipe_for_blend(prompt, self.model_for(prompt), seed, images)
        except ButtonInputError as err:
            raise ServiceError(str(err)) from None
        mode = self.speed_mode(account, prompt)
        spec = self._engine_spec("blend", account, prompt, mode, recipe, request)
        (view,) = self._admission.admit(account, [spec], channel)
        return view

    def upload(self, account: AccountView, data: bytes, prompt_text: str = "") -> JobView:
        """A user's own picture, kept as a finished single image of the account: its link can
        be an image prompt, --sref, --cref or --oref, and the picture's buttons (Vary (Region),
        Upscale, Zoom, Pan...) work on it. Uploads are private: the owner's alone."""
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        try:
            fetched = load_upload(data, self._links.fetch_policy)
        except FetchError as err:
            raise ServiceError(str(err)) from None
        picture = fetched.image.convert("RGB")
        text = prompt_text.strip()
        (parsed,) = self.parse(account, text or "upload")
        prompt = parsed if text else replace(parsed, text="", parts=())
        seed = new_seed()
        recipe = recipe_for_imagine(prompt, self.model_for(prompt), seed)
        width, height = (max(8, side - side % 8) for side in picture.size)
        recipe = replace(recipe, width=width, height=height)
        spec = JobSpec(
            verb=Verb.UPLOAD,
            mode=str(account.settings.get("mode") or "fast"),
            job_type=JobType.IMAGE,
            prompt_text=prompt.normalized() if text else "",
            prompt=prompt.to_dict(),
            recipe=recipe.to_dict(),
            seed=seed,
            visibility=Visibility.STEALTH,
        )
        with self.db.session(write=True) as session:
            job = self.instant(session, account, spec)
            path = self._files.save(job.id, 1, png_bytes(picture), job.created)
            image = ImageSpec(
                1, path, picture.width, picture.height, seed=seed, visibility=Visibility.STEALTH
            )
            jobs_repo.add_images(session, job.id, [image], now=job.created)
            session.flush()
            view = self._views.of(session, job)
        self.announce_instant(job)
        return view

    # -- shared by every queued submission ---------------------------------------------------

    def model_for(self, prompt: Prompt) -> ModelInfo:
        """The model of the prompt's version (engine.catalog), or a ServiceError when this
        server has none for it, or when a parameter has no lever on that model."""
        version = prompt.params.version
        try:
            entry = self.catalog.get(version)
        except VersionUnavailable as err:
            raise ServiceError(str(err)) from None
        return entry.info

    def speed_mode(self, account: AccountView, prompt: Prompt) -> str:
        if prompt.params.oref:
            # Omni reference jobs always run in turbo (support FAQ, --oref).
            return "turbo"
        return prompt.params.speed or str(account.settings.get("mode") or "fast")

    def _visibility(self, account: AccountView, prompt: Prompt) -> str:
        stealth = prompt.params.stealth
        if stealth is None:
            stealth = bool(account.settings.get("stealth"))
        return "stealth" if stealth else "public"

    def _imagine_spec(
        self, account: AccountView, prompt: Prompt, mode: str, request: dict[str, Any] | None
    ) -> JobSpec:
        seed = prompt.params.seed
        if seed is None:
            seed = new_seed()
        prompt = self.settle(account, prompt, seed)
        references = self.references(account, prompt)
        recipe = recipe_for_imagine(prompt, self.model_for(prompt), seed, references)
        return self._engine_spec("imagine", account, prompt, mode, recipe, request)

    def settle(self, account: AccountView, prompt: Prompt, seed: int) -> Prompt:
        """The prompt as the job keeps it: `--sref random` a code, `--p` values codes."""
        return self._personal.with_codes(account, with_style_codes(prompt, seed))

    def check_personal(self, account: AccountView, prompt: Prompt) -> None:
        """Refuse a `--p` that would be refused at submission (reads the database)."""
        self._personal.check(account, prompt)

    def check_references(self, prompt: Prompt) -> None:
        """Refuse what the model cannot be conditioned by, naming it."""
        model = self.model_for(prompt)
        for kind in reference_kinds(prompt):
            if kind not in model.reference_kinds:
                flag = REFERENCE_FLAGS[kind]
                if kind is ReferenceKind.STYLE and not prompt.params.sref:
                    flag = "--style codes"
                raise ServiceError(
                    f"The model {model.name} cannot use {flag}: it has no "
                    "image adapter (the operator sets one with DREAMLOOM_IP_ADAPTER)"
                )

    def references(
        self, account: AccountView, prompt: Prompt, known: dict[str, bytes] | None = None
    ) -> tuple[Reference, ...]:
        """The references of a settled prompt (``settle``), its links read (those in
        ``known`` are not read again) and its personalization codes' pictures."""
        known = known or {}
        missing = [url for url in links_of(prompt) if url not in known]
        images = {**known, **self._links.read_all(account, missing)}
        return references_for(prompt, images, self._personal.references(prompt))

    def _engine_spec(
        self,
        verb: str,
        account: AccountView,
        prompt: Prompt,
        mode: str,
        recipe: Recipe,
        request: dict[str, Any] | None,
    ) -> JobSpec:
        """The queued job of a prompt the engine runs as ``recipe``."""
        return JobSpec(
            verb=verb,
            mode=mode,
            prompt_text=prompt.normalized(),
            prompt=prompt.to_dict(),
            recipe=recipe.to_dict(),
            seed=recipe.seed,
            draft=prompt.params.draft,
            visibility=self._visibility(account, prompt),
            request=request,
        )

    def moderated(self, account: AccountView, spec: JobSpec, channel: str | None) -> JobView:
        """A flagged prompt: a job that ends moderated at once, and a strike."""
        from dreamloom.safety import PROMPT_FLAGGED

        now = self._now()
        with self.db.session(write=True) as session:
            chosen = self._channels.pick(session, account, channel, 1)
            placed = self._channels.targeted(session, replace(spec, channel=chosen, recipe=None))
            (job,) = jobs_repo.create_jobs(session, account.id, [placed], now=now)
            jobs_repo.mark_failed(session, job.id, PROMPT_FLAGGED, now, status=JobStatus.MODERATED)
            session.refresh(job)
            self._moderation.record_strike(session, account, now)
            view = self._views.of(session, job)
        self._publish(job, JobStatus.CREATED)
        self._publish(job, JobStatus.MODERATED, error=PROMPT_FLAGGED)
        return view

    def instant(
        self,
        session: Session,
        account: AccountView,
        spec: JobSpec,
        *,
        images: Sequence[ImageSpec] = (),
        response: dict[str, Any] | None = None,
    ) -> Job:
        """A job that needs no worker, written completed in the caller's transaction.

        The caller publishes its events after the commit (``announce_instant``)."""
        now = self._now()
        (job,) = jobs_repo.create_jobs(
            session, account.id, [self._channels.targeted(session, spec)], now=now
        )
        jobs_repo.record_changes(session, [job], JobStatus.COMPLETED, now, progress=100)
        job.status = JobStatus.COMPLETED
        job.progress = 100
        job.mode_effective = spec.mode
        job.started = now
        job.finished = now
        job.updated = now
        if response is not None:
            job.response = response
        if images:
            jobs_repo.add_images(session, job.id, images, now=now)
        session.flush()
        return job

    def announce_instant(self, job: Job) -> None:
        self._publish(job, JobStatus.CREATED)
        self._publish(job, JobStatus.COMPLETED, progress=100)
