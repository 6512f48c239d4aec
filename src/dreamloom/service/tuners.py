"""The Style Tuner: `/tune PROMPT` (Version 5.2, as the FAQ says), its looks, its codes, and
`/list_tuners`.

A tuner is a prompt and a seed with 16, 32, 64 or 128 directions, each offering two looks, A
and B. Each look is drawn as an ordinary imagine job of the prompt with that look's own
`--style` code (so it is queued, charged and shown like any job, and a look that fails costs
nothing); the owner draws the directions they want to see, a few at a time, within the plan's
queue. Anyone may open a tuner ("Your Style Tuner links are public") and pick A, B or neither
per direction: the picks are packed into a code (`prompt.style_codes`), which `--style CODE`
then draws with, in any prompt, for anyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from dreamloom.domain import Visibility
from dreamloom.prompt.style_codes import DIRECTIONS, Side, StyleCode
from dreamloom.service.accounts import Accounts
from dreamloom.service.errors import ServiceError
from dreamloom.service.job_views import JobViews
from dreamloom.service.runtime import Runtime
from dreamloom.service.submissions import Submissions, new_seed
from dreamloom.service.views import AccountView, JobView
from dreamloom.store import jobs_repo
from dreamloom.store import tuners as repo
from dreamloom.store.tables import Tuner

TUNER_VERSION = "5.2"
ONLY_V52 = (
    "The Style Tuner is only available in Version 5.2: add --v 5.2 or choose 5.2 in /settings"
)
DEFAULT_DIRECTIONS = 32
# Directions one request may draw: two jobs each, within what a plan's queue takes.
DRAW_MAX = 4


@dataclass(frozen=True)
class Look:
    direction: int
    side: Side
    code: str  # the `--style` code of this look alone
    job: JobView | None  # the job that drew it, once asked for


@dataclass(frozen=True)
class TunerView:
    id: str
    owner_id: int
    prompt: str
    seed: int
    directions: int
    created: datetime
    looks: tuple[Look, ...]  # direction by direction, A then B


class Tuners:
    def __init__(
        self, runtime: Runtime, accounts: Accounts, submissions: Submissions, views: JobViews
    ) -> None:
        self.db = runtime.db
        self._now = runtime.now
        self._accounts = accounts
        self._submissions = submissions
        self._views = views

    def create(
        self, account: AccountView, prompt_text: str, directions: int = DEFAULT_DIRECTIONS
    ) -> TunerView:
        """/tune PROMPT: checked as the looks' jobs will be (version 5.2, a model that can
        take a style code); nothing is drawn yet."""
        self._accounts.require_subscription(account)
        self._accounts.require_unlocked(account)
        if directions not in DIRECTIONS:
            raise ServiceError(f"directions must be one of {', '.join(map(str, DIRECTIONS))}")
        prompts = self._submissions.parse(account, prompt_text)
        if len(prompts) != 1:
            raise ServiceError("A /tune prompt makes one job: no permutations or --repeat")
        (prompt,) = prompts
        if prompt.params.version != TUNER_VERSION:
            raise ServiceError(ONLY_V52)
        if prompt.params.style is not None:
            raise ServiceError("A /tune prompt has no --style code: the tuner makes one")
        seed = prompt.params.seed
        if seed is None:
            seed = new_seed()
            prompt = replace(prompt, params=replace(prompt.params, seed=seed))
        probe = StyleCode(seed, directions, ((0, Side.A),)).encode()
        self._submissions.check_references(
            replace(prompt, params=replace(prompt.params, style=probe))
        )
        with self.db.session(write=True) as session:
            tuner = repo.add_tuner(
                session, account.id, prompt.normalized(), seed, directions, self._now()
            )
            return self._view(session, tuner, account)

    def tuner(self, account: AccountView, tuner_id: str) -> TunerView:
        """A tuner, for anyone signed in: tuner links are public (but a look drawn in stealth
        shows to its creator alone)."""
        with self.db.session() as session:
            return self._view(session, self._get(session, tuner_id), account)

    def list_tuners(self, account: AccountView) -> list[TunerView]:
        """/list_tuners: the account's tuners, newest first."""
        with self.db.session() as session:
            return [self._view(session, t, account) for t in repo.tuners_of(session, account.id)]

    def draw(self, account: AccountView, tuner_id: str, directions: Sequence[int]) -> TunerView:
        """Queue the jobs that draw both looks of ``directions`` (those not drawn yet)."""
        wanted = list(dict.fromkeys(directions))
        if not 1 <= len(wanted) <= DRAW_MAX:
            raise ServiceError(f"Draw 1 to {DRAW_MAX} directions at a time")
        with self.db.session() as session:
            tuner = self._get(session, tuner_id)
            if tuner.account_id != account.id:
                raise ServiceError("Only the tuner's creator can draw its looks", 403)
            bad = [d for d in wanted if not 0 <= d < tuner.directions]
            if bad:
                raise ServiceError(f"This tuner has directions 0 to {tuner.directions - 1}")
            drawn = repo.looks(session, tuner_id)
            prompt, seed, count = tuner.prompt_text, tuner.seed, tuner.directions
        for direction in wanted:
            for side in Side:
                if drawn.get((direction, side)) is not None:
                    continue
                code = _look_code(seed, count, direction, side)
                (job,) = self._submissions.submit_imagine(account, f"{prompt} --style {code}")
                # Linked at once: if a later look is refused (a full queue), the ones already
                # queued still belong to the tuner, and drawing again skips them.
                with self.db.session(write=True) as session:
                    repo.add_looks(session, tuner_id, [(direction, int(side), job.id)])
        return self.tuner(account, tuner_id)

    def code(self, tuner_id: str, picks: Mapping[int, Side]) -> str:
        """The `--style` code of the picks (direction -> look); none picked is refused."""
        with self.db.session() as session:
            tuner = self._get(session, tuner_id)
            seed, count = tuner.seed, tuner.directions
        if not picks:
            raise ServiceError("Pick at least one look")
        bad = [d for d in picks if not 0 <= d < count]
        if bad:
            raise ServiceError(f"This tuner has directions 0 to {count - 1}")
        return StyleCode(seed, count, tuple(sorted(picks.items()))).encode()

    def _get(self, session: Session, tuner_id: str) -> Tuner:
        tuner = session.get(Tuner, tuner_id)
        if tuner is None:
            raise ServiceError(f"No such tuner: {tuner_id}", 404)
        return tuner

    def _view(self, session: Session, tuner: Tuner, viewer: AccountView) -> TunerView:
        drawn = repo.looks(session, tuner.id)
        mine = viewer.id == tuner.account_id
        looks = []
        for direction in range(tuner.directions):
            for side in Side:
                job_id = drawn.get((direction, int(side)))
                job = jobs_repo.get_job(session, job_id) if job_id else None
                if job is not None and not mine and job.visibility == Visibility.STEALTH:
                    job = None
                looks.append(
                    Look(
                        direction,
                        side,
                        _look_code(tuner.seed, tuner.directions, direction, side),
                        self._views.of(session, job) if job is not None else None,
                    )
                )
        return TunerView(
            tuner.id,
            tuner.account_id,
            tuner.prompt_text,
            tuner.seed,
            tuner.directions,
            tuner.created,
            tuple(looks),
        )


def _look_code(seed: int, directions: int, direction: int, side: Side) -> str:
    return StyleCode(seed, directions, ((direction, side),)).encode()
