"""Personalization: profiles learnt from picked pictures, moodboards, codes, and what `--p` is.

The guide's model, on a self-hosted server:
- Each account has a **global profile** per version family (V7, V6). It unlocks once the user
  has picked enough pictures (``Settings.personalize_rankings``, the FAQ's "about 200") from
  pairs or grids of pictures this server made (their own, and everyone's public ones). Likes of
  images made with a version feed that version's global profile too (the guide: "Liking images
  ... will influence your Global Profiles").
- Once it is unlocked, more **custom profiles** can be made, trained the same way; **moodboards**
  are pictures chosen outright (uploads or generated ones) and work from their first picture.
- `--p` alone stands for the account's default profiles of the prompt's version; `--p ID` for a
  profile or moodboard by its ID; `--p CODE` for a code; `--p @name` for that user's global
  profile. At submission each becomes a **code** ("it will automatically convert from --p pID
  to --p code"): a frozen copy of the profile's preferred pictures. The same state gives the
  same code; a new state (more picks) a new one, and old codes keep working, also after the
  profile is deleted. `/list_personalize_codes` lists them.
- A code conditions a generation as PERSONAL references (style group) of its pictures, each
  code counting equally, scaled by `--stylize` (`engine.references`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from PIL import Image as PILImage
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dreamloom.domain import ProfileKind, Visibility
from dreamloom.engine import Reference, ReferenceKind
from dreamloom.prompt import Prompt
from dreamloom.prompt.versions import DEFAULT_VERSION
from dreamloom.service.errors import ServiceError
from dreamloom.service.runtime import Runtime
from dreamloom.service.views import AccountView
from dreamloom.store import accounts as accounts_repo
from dreamloom.store import jobs_repo
from dreamloom.store import personalize as repo
from dreamloom.store.tables import Image, Profile

log = logging.getLogger(__name__)

# The seeds' answer to --p before enough rankings (support FAQ, "Not enough ratings").
NOT_ENOUGH_RATINGS = "Not enough ratings"
# The version families that have profiles (the guide: "Personalization is compatible with V6
# and V7"); a profile's family is the prompt's version without its point release or Niji.
FAMILIES = ("7", "6")
# How many preferred pictures a code keeps, and their longest side: enough to carry a taste's
# colours and look through an image encoder (224 px for CLIP), small enough to store per code.
CODE_PICTURES = 8
CODE_SIDE = 256
GRID_MAX = 16
NAME_MAX = 64
_KEY_IN_LINK = re.compile(r"/images/([A-Za-z0-9_-]{8,32})\.(?:png|webp)(?:\?.*)?$")


def key_of(value: str) -> str:
    """An image key, or the key in one of this server's image links (so that a link from any
    answer, an upload's or the archive's, names its picture as it is)."""
    match = _KEY_IN_LINK.search(value)
    return match.group(1) if match else value


def family_of(version: str) -> str:
    """ "6.1" -> "6", "niji 6" -> "6", "7" -> "7"."""
    return str(int(float(version.removeprefix("niji "))))


@dataclass(frozen=True)
class Picture:
    key: str  # the image's key: /images/KEY.png
    stealth: bool  # its link needs a signature


@dataclass(frozen=True)
class ProfileView:
    id: str
    kind: ProfileKind
    version: str  # the family: "7", "6"
    name: str
    is_default: bool
    rankings: int  # pictures picked (moodboards: pictures added)
    needed: int  # rankings to unlock (0 for moodboards)
    latest_code: str | None
    pictures: tuple[Picture, ...]  # the preferred pictures, best first

    @property
    def unlocked(self) -> bool:
        return self.rankings >= self.needed and bool(self.pictures or self.rankings)


@dataclass(frozen=True)
class Candidate:
    picture: Picture
    job_id: str
    index: int
    prompt: str


@dataclass(frozen=True)
class CodeView:
    code: str
    profile_id: str
    profile_name: str
    kind: ProfileKind
    version: str
    created: datetime
    deleted: bool


class Personalization:
    def __init__(self, runtime: Runtime) -> None:
        self.db = runtime.db
        self.files = runtime.files
        self._now = runtime.now
        self.needed = runtime.settings.personalize_rankings

    # -- profiles ---------------------------------------------------------------------------

    def profiles(self, account: AccountView) -> list[ProfileView]:
        """The account's profiles and moodboards, the global ones first (made on first use)."""
        with self.db.session(write=True) as session:
            self._globals(session, account.id)
            rows = repo.profiles_of(session, account.id)
            counts = repo.rankings_by_profile(session, [p.id for p in rows])
            views = [self._view(session, p, counts.get(p.id, 0)) for p in rows]
        order = {ProfileKind.GLOBAL: 0, ProfileKind.CUSTOM: 1, ProfileKind.MOODBOARD: 2}
        return sorted(views, key=lambda v: (order[v.kind], FAMILIES.index(v.version)))

    def profile(self, account: AccountView, profile_id: str) -> ProfileView:
        with self.db.session(write=True) as session:
            self._globals(session, account.id)
            row = self._own(session, account, profile_id)
            return self._view(session, row, repo.rankings(session, row.id))

    def create(
        self, account: AccountView, name: str, *, kind: ProfileKind = ProfileKind.CUSTOM
    ) -> ProfileView:
        """A new custom profile or moodboard, of the account's default version. Custom
        profiles need the global profile of that version unlocked first (the guide)."""
        if kind is ProfileKind.GLOBAL:
            raise ServiceError("Global profiles cannot be created: each version has one")
        name = _name(name)
        family = family_of(str(account.settings.get("version") or DEFAULT_VERSION))
        if family not in FAMILIES:
            raise ServiceError(
                f"Personalization needs version 6 or 7; your default version is {family}"
            )
        with self.db.session(write=True) as session:
            (base,) = (g for g in self._globals(session, account.id) if g.version == family)
            if kind is ProfileKind.CUSTOM and repo.rankings(session, base.id) < self.needed:
                raise ServiceError(
                    f"Unlock your global V{family} profile first: {NOT_ENOUGH_RATINGS}"
                )
            row = repo.add_profile(
                session,
                account.id,
                kind=kind,
                version=family,
                name=name,
                is_default=False,
                now=self._now(),
            )
            return self._view(session, row, 0)

    def rename(self, account: AccountView, profile_id: str, name: str) -> ProfileView:
        name = _name(name)
        with self.db.session(write=True) as session:
            row = self._own(session, account, profile_id)
            row.name = name
            return self._view(session, row, repo.rankings(session, row.id))

    def delete(self, account: AccountView, profile_id: str) -> None:
        """Gone from the list and no more picks; the codes it made still work."""
        with self.db.session(write=True) as session:
            row = self._own(session, account, profile_id)
            if row.kind == ProfileKind.GLOBAL:
                raise ServiceError("Global profiles cannot be deleted")
            row.deleted = True
            row.is_default = False

    def select_defaults(self, account: AccountView, profile_ids: Sequence[str]) -> None:
        """The profiles a bare `--p` (and the Personalization setting) uses; a version with
        none selected uses its global profile."""
        with self.db.session(write=True) as session:
            self._globals(session, account.id)
            chosen = {self._own(session, account, pid).id for pid in profile_ids}
            for row in repo.profiles_of(session, account.id):
                row.is_default = row.id in chosen

    # -- ranking and moodboards --------------------------------------------------------------

    def candidates(self, account: AccountView, profile_id: str, count: int = 2) -> list[Candidate]:
        """Pictures to pick from: 2 for a pair, up to GRID_MAX for a grid. Pictures the
        profile has judged come back only when nothing else is left."""
        if not 2 <= count <= GRID_MAX:
            raise ServiceError(f"count must be between 2 and {GRID_MAX}")
        with self.db.session(write=True) as session:
            self._globals(session, account.id)
            row = self._own(session, account, profile_id)
            judged = repo.judged_ids(session, row.id)
            rows = repo.candidates(session, account.id, judged, count)
            if len(rows) < count:
                seen = {image.id for image, _ in rows}
                rows += repo.candidates(session, account.id, sorted(seen), count - len(rows))
            return [
                Candidate(_picture(image), job.id, image.index, job.prompt_text)
                for image, job in rows
            ]

    def pick(
        self, account: AccountView, profile_id: str, shown: Sequence[str], picked: Sequence[str]
    ) -> ProfileView:
        """The user picked ``picked`` among ``shown`` (image keys): each picked picture is a
        ranking; when something was picked, the others shown count against. Nothing picked is
        a skip (the FAQ's "→ Skip"): no ranking. Moodboards take ``picked`` as added."""
        unknown = [key for key in picked if key not in shown]
        if unknown:
            raise ServiceError(f"Picked images must be among those shown: {', '.join(unknown)}")
        with self.db.session(write=True) as session:
            row = self._own(session, account, profile_id)
            found = repo.visible_images(session, account.id, [*shown, *picked])
            missing = [key for key in dict.fromkeys([*shown, *picked]) if key not in found]
            if missing:
                raise ServiceError(f"No such image: {', '.join(missing)}")
            judged = [(found[key].id, True) for key in dict.fromkeys(picked)]
            if picked and row.kind != ProfileKind.MOODBOARD:
                judged += [
                    (found[key].id, False) for key in dict.fromkeys(shown) if key not in picked
                ]
            repo.add_picks(session, row.id, judged, self._now())
            session.flush()
            return self._view(session, row, repo.rankings(session, row.id))

    def add_to_moodboard(
        self, account: AccountView, profile_id: str, keys: Sequence[str]
    ) -> ProfileView:
        self._require_moodboard(account, profile_id)
        return self.pick(account, profile_id, keys, keys)

    def remove_from_moodboard(
        self, account: AccountView, profile_id: str, keys: Sequence[str]
    ) -> ProfileView:
        self._require_moodboard(account, profile_id)
        with self.db.session(write=True) as session:
            row = self._own(session, account, profile_id)
            found = repo.visible_images(session, account.id, keys)
            repo.remove_picks(session, row.id, [image.id for image in found.values()])
            session.flush()
            return self._view(session, row, repo.rankings(session, row.id))

    # -- codes and --p -------------------------------------------------------------------------

    def codes(self, account: AccountView) -> list[CodeView]:
        """/list_personalize_codes: every code the account's profiles made, newest first."""
        with self.db.session() as session:
            return [
                CodeView(
                    code.code,
                    profile.id,
                    profile.name,
                    ProfileKind(profile.kind),
                    profile.version,
                    code.created,
                    profile.deleted,
                )
                for code, profile in repo.codes_of(session, account.id)
            ]

    def current_code(self, account: AccountView, profile_id: str) -> str:
        """The code of the profile as it is now (made if this state has none yet)."""
        with self.db.session(write=True) as session:
            return self._code(session, self._own(session, account, profile_id))

    def with_codes(self, account: AccountView, prompt: Prompt) -> Prompt:
        """The prompt with its `--p` values settled to codes; raises "Not enough ratings"
        for a profile that is not unlocked, and names a value that is nothing of this server."""
        if prompt.params.personalize is None:
            return prompt
        with self.db.session(write=True) as session:
            codes = [
                target if isinstance(target, str) else self._code(session, target)
                for target in self._targets(session, account, prompt)
            ]
        params = replace(prompt.params, personalize=tuple(dict.fromkeys(codes)))
        return replace(prompt, params=params)

    def check(self, account: AccountView, prompt: Prompt) -> None:
        """What ``with_codes`` would refuse, refused without making a code: /settings checks
        a change that adds `--p` to every later prompt."""
        if prompt.params.personalize is None:
            return
        with self.db.session() as session:
            for target in self._targets(session, account, prompt, create=False):
                if not isinstance(target, str):
                    self._ready(session, target)

    def references(self, prompt: Prompt) -> list[Reference]:
        """The PERSONAL references of a prompt whose `--p` values are codes (``with_codes``):
        every picture of every code, weighted so that each code counts the same and their mean
        weight is 1 (the group's strength reads the mean)."""
        codes = prompt.params.personalize or ()
        with self.db.session() as session:
            sets = []
            for code in codes:
                pictures = repo.code_pictures(session, code)
                if pictures is None:
                    raise ServiceError(_unknown(code))
                sets.append(pictures)
        total = sum(len(pictures) for pictures in sets)
        return [
            Reference(ReferenceKind.PERSONAL, total / (len(sets) * len(pictures)), image=data)
            for pictures in sets
            for data in pictures
        ]

    # -- internals ----------------------------------------------------------------------------

    def _globals(self, session: Session, account_id: int) -> list[Profile]:
        rows = [
            row for row in repo.profiles_of(session, account_id) if row.kind == ProfileKind.GLOBAL
        ]
        have = {row.version for row in rows}
        for family in FAMILIES:
            if family not in have:
                rows.append(
                    repo.add_profile(
                        session,
                        account_id,
                        kind=ProfileKind.GLOBAL,
                        version=family,
                        name=f"Global V{family} Profile",
                        is_default=True,
                        now=self._now(),
                    )
                )
        return rows

    def _own(self, session: Session, account: AccountView, profile_id: str) -> Profile:
        row = session.get(Profile, profile_id)
        if row is None or row.account_id != account.id or row.deleted:
            raise ServiceError(f"No such profile: {profile_id}", 404)
        return row

    def _require_moodboard(self, account: AccountView, profile_id: str) -> None:
        with self.db.session() as session:
            if self._own(session, account, profile_id).kind != ProfileKind.MOODBOARD:
                raise ServiceError(f"{profile_id} is a profile: add pictures to it by picking")

    def _needed(self, row: Profile) -> int:
        return 0 if row.kind == ProfileKind.MOODBOARD else self.needed

    def _view(self, session: Session, row: Profile, rankings: int) -> ProfileView:
        latest = next(
            (code.code for code, profile in repo.codes_of(session, row.account_id)
             if profile.id == row.id),
            None,
        )  # fmt: skip
        return ProfileView(
            id=row.id,
            kind=ProfileKind(row.kind),
            version=row.version,
            name=row.name,
            is_default=row.is_default,
            rankings=rankings,
            needed=self._needed(row),
            latest_code=latest,
            pictures=tuple(map(_picture, self._preferred(session, row))),
        )

    def _preferred(self, session: Session, row: Profile) -> list[Image]:
        """The pictures the profile prefers, best first: picked ones, then (global profiles)
        liked ones of the profile's version."""
        pictures = [scored.image for scored in repo.preferred(session, row.id, CODE_PICTURES)]
        if row.kind == ProfileKind.GLOBAL and len(pictures) < CODE_PICTURES:
            have = {image.id for image in pictures}
            for image in repo.liked_pictures(session, row.account_id, 4 * CODE_PICTURES):
                job = jobs_repo.get_job(session, image.job_id)
                prompt = (job.prompt if job is not None else None) or {}
                version = str((prompt.get("params") or {}).get("version") or "")
                if image.id not in have and version and family_of(version) == row.version:
                    pictures.append(image)
                    have.add(image.id)
                if len(pictures) == CODE_PICTURES:
                    break
        return pictures

    def _defaults(
        self,
        session: Session,
        account_id: int,
        family: str,
        create: bool,
        *,
        only_global: bool = False,
    ) -> list[Profile]:
        """The account's default profiles of a family (its global one when none is chosen);
        raises "Not enough ratings" when it has none yet and ``create`` is off."""
        rows = [
            row
            for row in repo.profiles_of(session, account_id)
            if row.version == family and row.is_default and not only_global
        ]
        if rows:
            return rows
        known = (
            self._globals(session, account_id)
            if create
            else [r for r in repo.profiles_of(session, account_id) if r.kind == ProfileKind.GLOBAL]
        )
        rows = [row for row in known if row.version == family]
        if not rows:
            raise ServiceError(NOT_ENOUGH_RATINGS)
        return rows

    def _targets(
        self, session: Session, account: AccountView, prompt: Prompt, *, create: bool = True
    ) -> list[Profile | str]:
        """What each `--p` value names: a profile (to make a code of) or an existing code.
        Bare `--p` names the account's default profiles of the prompt's version family;
        `@name` that user's global profile ("on Discord ... it will automatically turn into
        their personal code"). ``create``: global profiles not made yet are made."""
        family = family_of(prompt.params.version)
        asked = prompt.params.personalize or ()
        targets: list[Profile | str] = []
        if not asked:
            targets += self._defaults(session, account.id, family, create)
        for value in asked:
            if value.startswith(("@", "<@")):
                owner = accounts_repo.get_account_by_name(session, value.strip("<@!>"))
                if owner is None:
                    raise ServiceError(_unknown(value))
                targets += self._defaults(session, owner.id, family, create, only_global=True)
                continue
            row = session.get(Profile, value)
            if row is not None and row.account_id == account.id and not row.deleted:
                targets.append(row)
            elif repo.code_pictures(session, value) is not None:
                targets.append(value)
            else:
                raise ServiceError(_unknown(value))
        return targets

    def _ready(self, session: Session, row: Profile) -> list[Image]:
        """The profile's preferred pictures; refused while it is locked or has none."""
        if repo.rankings(session, row.id) < self._needed(row):
            raise ServiceError(NOT_ENOUGH_RATINGS)
        pictures = self._preferred(session, row)
        if not pictures:
            if row.kind == ProfileKind.MOODBOARD:
                raise ServiceError(f"The moodboard {row.name} has no pictures yet")
            raise ServiceError(NOT_ENOUGH_RATINGS)
        return pictures

    def _code(self, session: Session, row: Profile) -> str:
        """The code of the profile's current state: found, or made with copies of its
        preferred pictures."""
        pictures = self._ready(session, row)
        digest = hashlib.sha256(",".join(str(image.id) for image in pictures).encode()).hexdigest()
        found = repo.code_for(session, row.id, digest)
        if found is not None:
            return found
        copies = [copy for copy in map(self._copy, pictures) if copy is not None]
        if not copies:
            raise ServiceError(NOT_ENOUGH_RATINGS)
        try:
            with session.begin_nested():
                code = repo.add_code(session, row.id, digest, copies, self._now())
        except IntegrityError:  # made at the same moment by another submission
            code = repo.code_for(session, row.id, digest) or ""
        log.info("profile %s made personalization code %s", row.id, code)
        return code

    def _copy(self, image: Image) -> bytes | None:
        """A small PNG of the picture; None (logged) when its file cannot be read."""
        try:
            with PILImage.open(io.BytesIO(self.files.read(image.path))) as picture:
                small = picture.convert("RGB")
                small.thumbnail((CODE_SIDE, CODE_SIDE))
        except (OSError, ValueError) as err:
            log.warning("personalization skips image %s: %s", image.key, err)
            return None
        out = io.BytesIO()
        small.save(out, format="PNG")
        return out.getvalue()


def _picture(image: Image) -> Picture:
    return Picture(image.key, image.visibility == Visibility.STEALTH)


def _name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ServiceError("A profile needs a name")
    if len(name) > NAME_MAX:
        raise ServiceError(f"A profile's name must be at most {NAME_MAX} characters")
    return name


def _unknown(value: str) -> str:
    return (
        f'Unknown personalization code "{value}": use a code from /list_personalize_codes '
        "or a profile ID from the Personalize page"
    )
