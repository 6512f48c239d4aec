"""The account's context: /settings < /prefer suffix < the prompt, and option sets."""

from __future__ import annotations

import pytest

from dreamloom.prompt import Params, PromptContext, PromptError, parse_prompt


def params(text: str, **ctx: object) -> Params:
    return parse_prompt(text, PromptContext(**ctx))[0].params  # type: ignore[arg-type]


def error(text: str, **ctx: object) -> str:
    with pytest.raises(PromptError) as info:
        parse_prompt(text, PromptContext(**ctx))  # type: ignore[arg-type]
    return info.value.message


def test_precedence_settings_then_suffix_then_prompt() -> None:
    settings = "--ar 3:4 --s 250 --c 10"
    suffix = "--ar 2:3 --s 50"
    p = params("cat --ar 16:9", settings=settings, suffix=suffix)
    assert (p.aspect, p.stylize, p.chaos) == ((16, 9), 50, 10)
    p = params("cat", settings=settings, suffix=suffix)
    assert (p.aspect, p.stylize, p.chaos) == ((2, 3), 50, 10)
    assert params("cat", settings=settings).aspect == (3, 4)


def test_other_spellings_of_the_same_setting_override() -> None:
    assert params("cat --fast", settings="--relax").speed == "fast"
    assert params("cat --public", settings="--stealth").stealth is False
    assert params("cat --niji 5", settings="--v 6.1").version == "niji 5"
    assert params("cat --v 6", suffix="--niji").version == "6"
    assert params("cat --stylize 5", settings="--s 750").stylize == 5


def test_version_from_settings_governs_ranges_in_the_prompt() -> None:
    assert params("cat --stop 50", settings="--v 6.1").stop == 50
    assert error("cat --q 4", settings="--v 6.1") == (
        "--quality must be one of 0.25, 0.5, 1, 2 with --version 6.1"
    )


def test_stale_settings_are_reported() -> None:
    assert error("cat", settings="--uplight") == "unrecognized argument: --uplight"
    assert error("cat", suffix="--s 5000") == (
        "--stylize must be between 0 and 1000 with --version 7"
    )


def test_suffix_and_settings_hold_parameters_only() -> None:
    assert error("cat", suffix="in watercolor --ar 2:3") == (
        'The suffix may only contain parameters such as --ar 16:9, not "in watercolor"'
    )
    assert error("cat", settings="https://example.com/a.png") == (
        "The settings text may only contain parameters such as --ar 16:9, "
        'not "https://example.com/a.png"'
    )
    assert error("cat", suffix="x" * 6001) == "The suffix is too long: the limit is 6000 characters"


def test_option_sets_expand() -> None:
    sets = {"mine": "--ar 7:4 --s 50", "--warm": "--style raw"}
    p = params("cat --mine --warm", option_sets=sets)
    assert (p.aspect, p.stylize, p.raw) == ((7, 4), 50, True)
    assert parse_prompt("cat --mine", PromptContext(option_sets=sets))[0].text == "cat"


def test_option_sets_can_hold_text_and_nest() -> None:
    sets = {"scene": "at dawn --look", "look": "--ar 2:1"}
    prompt = parse_prompt("a castle --scene", PromptContext(option_sets=sets))[0]
    assert prompt.text == "a castle at dawn"
    assert prompt.params.aspect == (2, 1)


def test_option_sets_in_permutations_and_suffix() -> None:
    sets = {"wide": "--ar 2:1", "tall": "--ar 1:2"}
    prompts = parse_prompt("cat {--wide, --tall}", PromptContext(option_sets=sets))
    assert [p.params.aspect for p in prompts] == [(2, 1), (1, 2)]
    assert params("cat", suffix="--wide", option_sets=sets).aspect == (2, 1)


def test_option_sets_never_shadow_parameters() -> None:
    assert params("cat --ar 1:1", option_sets={"ar": "--tile"}).aspect == (1, 1)
    assert not params("cat --ar 1:1", option_sets={"ar": "--tile"}).tile


def test_option_set_names_are_whole_words() -> None:
    sets = {"mine": "--tile"}
    assert error("cat --mine2", option_sets=sets) == "unrecognized argument: --mine2"
    assert error("cat --Mine", option_sets=sets) == "unrecognized argument: --Mine"


def test_option_set_loops_are_refused() -> None:
    sets = {"a": "--b", "b": "--a"}
    assert error("cat --a", option_sets=sets) == (
        "Option set --a refers to itself (option sets can be nested at most 8 deep)"
    )


def test_option_sets_cannot_exceed_the_length_limit() -> None:
    sets = {"big": "x " * 100 + "--big --big"}
    assert error("cat --big", option_sets=sets) == (
        "The prompt is too long after expanding option sets: the limit is 6000 characters"
    )


def test_duplicates_across_sources_are_overrides_not_errors() -> None:
    assert params("cat --ar 1:1", settings="--ar 2:3", suffix="--ar 3:4").aspect == (1, 1)
    assert error("cat", suffix="--ar 1:1 --ar 2:3") == "--ar is given more than once"


def test_batch_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PromptContext(batch_cap=0)
