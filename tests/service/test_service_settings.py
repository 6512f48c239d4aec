"""/settings changes, Reset Settings, /prefer suffix, /prefer option set, /stealth, /public and
/show, over the real stack: after each change a prompt is submitted and the job the store
keeps (its normalized prompt, its recipe, its visibility) shows what the change did."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dreamloom.config import Settings
from dreamloom.domain import SpeedMode, Variability, Visibility
from dreamloom.engine.catalog import every_version
from dreamloom.service import AccountView, JobView, Service, ServiceError
from dreamloom.service.preferences import SettingsChange
from dreamloom.store import jobs_repo


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # Every version on the tiny model: these tests are about settings, not versions.
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        model="tiny",
        workers=1,
        versions=every_version("tiny"),
    )
    with Service(settings) as svc:
        yield svc


def _user(service: Service, name: str, plan: str = "pro") -> AccountView:
    account, _ = service.create_user(name, plan)
    return account


def _stored(service: Service, job: JobView) -> tuple[str, dict[str, Any], str]:
    """The job's normalized prompt, its recipe and its visibility, as the store keeps them."""
    with service.db.session() as session:
        row = jobs_repo.get_job(session, job.id)
        assert row is not None
        return row.prompt_text, dict(row.recipe or {}), row.visibility


def _imagine(
    service: Service, account: AccountView, prompt: str
) -> tuple[str, dict[str, Any], str]:
    (job,) = service.submit_imagine(service.account(account.id), prompt)
    service.cancel(account, job.id, queued_too=True)  # only what was stored matters here
    return _stored(service, job)


def _refused(call: Any, *args: Any, **kwargs: Any) -> ServiceError:
    with pytest.raises(ServiceError) as err:
        call(*args, **kwargs)
    return err.value


def test_stylize_version_raw_and_personalization_reach_later_prompts(service: Service) -> None:
    ann = _user(service, "ann")
    text, before, _ = _imagine(service, ann, "a quiet harbour --seed 3")
    assert "--stylize 100" in text and "--v 7" in text

    job = service.change_settings(ann, SettingsChange(stylize="high"))
    assert job.verb == "settings" and job.status == "completed"
    assert job.response["settings"]["stylize"] == 250
    assert job.response["content"] == "Adjust your settings here. Current suffix: ` --s 250`"
    text, after, _ = _imagine(service, ann, "a quiet harbour --seed 3")
    assert "--stylize 250" in text
    assert after["guidance"] != before["guidance"] and after["stylize"] == 250

    service.change_settings(ann, SettingsChange(stylize=600, version="6.1", raw=True))
    text, raw, _ = _imagine(service, ann, "a quiet harbour --seed 3")
    assert "--stylize 600" in text and "--raw" in text and text.endswith("--v 6.1")
    service.change_settings(ann, SettingsChange(raw=False))
    text, plain, _ = _imagine(service, ann, "a quiet harbour --seed 3")
    assert "--raw" not in text and plain["stylize"] == raw["stylize"] == 600
    assert plain["guidance"] != raw["guidance"]  # raw mode changes how the prompt is followed
    # The prompt's own parameters still win over /settings.
    text, _, _ = _imagine(service, ann, "a quiet harbour --s 20 --v 7")
    assert "--stylize 20" in text and text.endswith("--v 7")

    job = service.change_settings(ann, SettingsChange(version="niji 6"))
    assert job.response["settings"]["version"] == "niji 6"
    text, _, _ = _imagine(service, ann, "a quiet harbour")
    assert text.endswith("--niji 6") and "--raw" not in text

    job = service.change_settings(ann, SettingsChange(version="default"))
    assert job.response["settings"]["version"] == "7"
    # Personalization on would add --p to every later prompt: refused on a model that --p
    # cannot act on (no image adapter), and nothing changed.
    err = _refused(service.change_settings, ann, SettingsChange(personalization=True))
    assert err.message.startswith("The model tiny cannot use --p")
    assert service.settings_of(service.account(ann.id))["personalization"] is False
    text, _, _ = _imagine(service, ann, "a quiet harbour")
    assert " --p" not in text


def test_bad_values_are_refused_in_the_parsers_words_and_nothing_changes(
    service: Service,
) -> None:
    bob = _user(service, "bob")
    err = _refused(service.change_settings, bob, SettingsChange(version="8"))
    assert err.message == "--version must be one of 1, 2, 3, 4, 5, 5.1, 5.2, 6, 6.1, 7"
    assert err.status == 400
    err = _refused(service.change_settings, bob, SettingsChange(version="7 --tile"))
    assert err.message.startswith("--version must be one of")
    err = _refused(service.change_settings, bob, SettingsChange(version="niji 9"))
    assert err.message == "--niji must be one of 4, 5, 6"
    err = _refused(service.change_settings, bob, SettingsChange(stylize=1500))
    assert err.message == "--stylize must be between 0 and 1000 with --version 7"
    err = _refused(service.change_settings, bob, SettingsChange(stylize="loud"))
    assert err.message.startswith("Stylize must be one of low, med, high, very high")
    err = _refused(service.change_settings, bob, SettingsChange(version="4", raw=True))
    assert err.message == "Not compatible with --version 4: --raw"
    err = _refused(service.change_settings, bob, SettingsChange(personalization=True, version="5"))
    assert err.message == "Not compatible with --version 5: --p"
    err = _refused(service.change_settings, bob, SettingsChange())
    assert err.message.startswith("Nothing to change")
    values = service.settings_of(service.account(bob.id))
    assert values["version"] == "7" and values["stylize"] == 100 and values["raw"] is False
    assert values["personalization"] is False


def test_visibility_speed_remix_and_variability_from_settings(service: Service) -> None:
    cat = _user(service, "cat", plan="standard")
    err = _refused(service.change_settings, cat, SettingsChange(visibility=Visibility.STEALTH))
    assert err.message == "Stealth mode is only available with a pro or mega plan"
    err = _refused(service.run_command, cat, "stealth")
    assert err.message == "Stealth mode is only available with a pro or mega plan"
    job = service.change_settings(
        cat,
        SettingsChange(speed=SpeedMode.RELAX, remix=True, variability=Variability.LOW),
    )
    values = job.response["settings"]
    assert values["relax"] is True and values["fast"] is False
    assert values["remix"] is True and values["variability"] is False
    (queued,) = service.submit_imagine(service.account(cat.id), "a slow tortoise")
    assert queued.mode == "relax"
    service.cancel(cat, queued.id, queued_too=True)
    basic = _user(service, "dan", plan="basic")
    err = _refused(service.change_settings, basic, SettingsChange(speed=SpeedMode.RELAX))
    assert "Relax" in err.message


def test_stealth_and_public_switch_new_jobs(service: Service) -> None:
    eve = _user(service, "eve", plan="mega")
    job = service.run_command(eve, "stealth")
    assert job.verb == "stealth" and job.response["settings"] == {"public": False}
    assert job.response["content"].startswith("Stealth mode turned on!")
    _, _, visibility = _imagine(service, eve, "a hidden garden")
    assert visibility == "stealth"
    assert service.settings_of(service.account(eve.id))["public"] is False
    job = service.run_command(eve, "public")
    assert job.response["settings"] == {"public": True}
    _, _, visibility = _imagine(service, eve, "an open garden")
    assert visibility == "public"
    job = service.change_settings(eve, SettingsChange(visibility=Visibility.STEALTH))
    assert job.response["settings"]["public"] is False
    _, _, visibility = _imagine(service, eve, "a hidden garden again")
    assert visibility == "stealth"


def test_suffix_is_set_shown_validated_and_cleared(service: Service) -> None:
    fay = _user(service, "fay")
    shown = service.prefer_suffix(fay, None)
    assert shown.verb == "prefer"
    assert shown.response["content"] == "You have no custom suffix. Set one with `/prefer suffix`."
    text, square, _ = _imagine(service, fay, "a long train")
    assert square["width"] == square["height"]
    job = service.prefer_suffix(fay, "--ar 16:9   --chaos 10")
    assert job.response["content"] == "Custom suffix set to ` --ar 16:9 --chaos 10`"
    assert job.response["settings"]["suffix"] == " --ar 16:9 --chaos 10"
    text, wide, _ = _imagine(service, fay, "a long train")
    assert "--ar 16:9" in text and "--chaos 10" in text
    assert wide["width"] > wide["height"]
    # The suffix beats /settings; the prompt beats the suffix.
    service.change_settings(fay, SettingsChange(stylize="low"))
    service.prefer_suffix(fay, "--ar 16:9 --s 400")
    text, _, _ = _imagine(service, fay, "a long train")
    assert "--stylize 400" in text
    text, tall, _ = _imagine(service, fay, "a long train --ar 2:3")
    assert "--ar 2:3" in text and tall["height"] > tall["width"]

    for bad, message in (
        ("--ar 99:1", "--ar"),
        ("--stylize 2000", "--stylize must be between 0 and 1000 with --version 7"),
        ("--frobnicate", "frobnicate"),
        ("in oil paint", 'The suffix may only contain parameters such as --ar 16:9, not "in'),
    ):
        err = _refused(service.prefer_suffix, fay, bad)
        assert message in err.message, (bad, err.message)
        assert err.status == 400
    assert service.prefer_suffix(fay, None).response["content"] == (
        "Current custom suffix: ` --ar 16:9 --s 400`"
    )
    cleared = service.prefer_suffix(fay, "")
    assert cleared.response["content"] == "Custom suffix removed."
    text, square, _ = _imagine(service, fay, "a long train")
    assert "--ar 1:1" in text and square["width"] == square["height"]


def test_option_sets_expand_list_and_delete(service: Service) -> None:
    gus = _user(service, "gus")
    job = service.set_option(gus, "wide", "--ar 2:1 --chaos 30")
    assert job.verb == "prefer"
    assert job.response["content"] == "Custom option `--wide` set to `--ar 2:1 --chaos 30`"
    service.set_option(gus, "--moody", "dark stormy clouds --no sun")
    listed = service.list_options(gus)
    assert listed.response["optionSets"] == {
        "wide": "--ar 2:1 --chaos 30",
        "moody": "dark stormy clouds --no sun",
    }
    assert "`--moody`: `dark stormy clouds --no sun`" in listed.response["content"]
    text, recipe, _ = _imagine(service, gus, "a lighthouse --wide")
    assert "--ar 2:1" in text and "--chaos 30" in text and recipe["width"] > recipe["height"]
    text, _, _ = _imagine(service, gus, "a lighthouse --moody")
    assert text.startswith("a lighthouse dark stormy clouds") and "--no sun" in text

    err = _refused(service.set_option, gus, "ar", "--ar 1:1")
    assert err.message == "--ar is a parameter: an option cannot take its name"
    err = _refused(service.set_option, gus, "two words", "--chaos 5")
    assert err.message.startswith("Invalid option name")
    err = _refused(service.set_option, gus, "loud", "--stylize 9999")
    assert err.message == "--stylize must be between 0 and 1000 with --version 7"

    removed = service.delete_option(gus, "wide")
    assert removed.response["content"] == "Custom option `--wide` removed."
    assert removed.response["optionSets"] == {"moody": "dark stormy clouds --no sun"}
    err = _refused(service.delete_option, gus, "wide")
    assert err.status == 404 and err.message == "No custom option named --wide"
    # An empty value removes the option, as Midjourney's /prefer option set does.
    service.set_option(gus, "moody", "")
    assert service.list_options(gus).response["optionSets"] == {}


def test_reset_restores_defaults_and_keeps_option_sets(service: Service) -> None:
    hal = _user(service, "hal")
    service.change_settings(
        hal,
        SettingsChange(
            stylize=750, version="6", raw=True, visibility=Visibility.STEALTH, remix=True
        ),
    )
    service.prefer_suffix(hal, "--ar 3:2")
    service.set_option(hal, "soft", "--chaos 5")
    text, _, visibility = _imagine(service, hal, "a meadow")
    assert "--stylize 750" in text and "--raw" in text and visibility == "stealth"
    job = service.reset_settings(hal)
    values = job.response["settings"]
    assert values == {
        "version": "7",
        "stylize": 100,
        "raw": False,
        "personalization": False,
        "public": True,
        "remix": False,
        "variability": True,
        "relax": False,
        "fast": True,
        "turbo": False,
        "suffix": "",
    }
    text, _, visibility = _imagine(service, hal, "a meadow --soft")
    assert "--stylize 100" in text and "--raw" not in text and text.endswith("--v 7")
    assert "--ar 1:1" in text and "--chaos 5" in text and visibility == "public"


def test_show_reposts_a_job_with_working_buttons(service: Service) -> None:
    ivy = _user(service, "ivy")
    (job,) = service.submit_imagine(ivy, "a red kite --seed 11")
    done = service.wait(job.id, timeout=300)
    assert done.status == "completed"
    shown = service.show(ivy, done.id)
    assert shown.verb == "show" and shown.status == "completed"
    assert shown.parent_job_id == done.id and shown.prompt_text == done.prompt_text
    assert shown.buttons == done.buttons and "U2" in shown.buttons
    assert [img.path for img in shown.images] == [img.path for img in done.images]
    # The shown job keeps no trace of the show among its children.
    assert service.get_job(done.id, ivy).children == ()
    split, created = service.press_button(ivy, shown.id, "U2")
    assert created and split.status == "completed"
    assert split.images[0].path == done.images[2].path
    # A show of the split offers the split's buttons, and they work too.
    again = service.show(ivy, split.id)
    assert again.result == "single" and "Vary (Subtle)" in again.buttons
    assert again.split_index == 2

    # Variation Mode from /settings decides how far V1-V4 of the shown grid move.
    strengths = {}
    for mode, button in ((Variability.LOW, "V1"), (Variability.HIGH, "V2")):
        service.change_settings(ivy, SettingsChange(variability=mode))
        varied, _ = service.press_button(service.account(ivy.id), shown.id, button)
        service.cancel(ivy, varied.id, queued_too=True)
        _, recipe, _ = _stored(service, varied)
        strengths[mode] = recipe["strength"]
    assert strengths[Variability.LOW] < strengths[Variability.HIGH]

    other = _user(service, "jon")
    err = _refused(service.show, other, done.id)
    assert err.status == 404 and err.message == "Job not found"
    err = _refused(service.show, ivy, "no-such-job")
    assert err.status == 404
    settings_job = service.run_command(ivy, "settings")
    err = _refused(service.show, ivy, settings_job.id)
    assert err.message == f"Job {settings_job.id} has no image to show"
