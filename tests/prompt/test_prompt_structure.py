"""The shape of a prompt: image links, text, parameters, dashes, case, whitespace, limits."""

from __future__ import annotations

import pytest

from dreamloom.prompt import Prompt, PromptContext, PromptError, WeightedText, parse_prompt

A = "https://example.com/a.png"
B = "https://cdn.example.com/attachments/1/2/b.JPG?ex=65&is=66"


def one(text: str, **ctx: object) -> Prompt:
    prompts = parse_prompt(text, PromptContext(**ctx))  # type: ignore[arg-type]
    assert len(prompts) == 1
    return prompts[0]


def error(text: str, **ctx: object) -> str:
    with pytest.raises(PromptError) as info:
        parse_prompt(text, PromptContext(**ctx))  # type: ignore[arg-type]
    return info.value.message


def test_text_and_parameters() -> None:
    p = one("a robot on a sailboat --ar 2:1")
    assert p.text == "a robot on a sailboat"
    assert p.parts == (WeightedText("a robot on a sailboat", 1.0),)
    assert p.image_prompts == ()
    assert p.params.aspect == (2, 1)


@pytest.mark.parametrize(
    "url",
    [
        A,
        B,
        "https://example.com/c.jpeg",
        "http://example.com/d.webp",
        "https://example.com/E.PNG",
        "https://example.com/f.png#frag",
    ],
)
def test_leading_image_links_are_image_prompts(url: str) -> None:
    p = one(f"{url} a cool person flying like superman --iw 2")
    assert p.image_prompts == (url,)
    assert p.text == "a cool person flying like superman"
    assert p.params.iw == 2


def test_several_image_links_need_no_text() -> None:
    p = one(f"{A} {B}")
    assert p.image_prompts == (A, B)
    assert p.text == ""
    assert p.parts == ()


def test_angle_brackets_around_links_are_removed() -> None:
    assert one(f"<{A}> a cat").image_prompts == (A,)


def test_links_that_are_not_images_or_not_leading_are_text() -> None:
    assert one("https://example.com/page a cat").image_prompts == ()
    assert one("https://example.com/page a cat").text == "https://example.com/page a cat"
    p = one(f"a cat {A}")
    assert (p.image_prompts, p.text) == ((), f"a cat {A}")


def test_single_image_prompt_needs_text() -> None:
    message = (
        "Cannot use --version 7 with only a single image prompt. "
        "Please add another image prompt, or a text prompt"
    )
    assert error(A) == message
    assert error(f"{A} --iw 2") == message
    assert error(f"{A} --v 6.1").startswith("Cannot use --version 6.1 with only a single image")
    assert error(f"{A} --niji 6").startswith("Cannot use --niji 6 with only a single image")


def test_blob_links_were_never_uploaded() -> None:
    assert error("blob:https://discord.com/1234 a cat").startswith(
        "The image link starts with blob:"
    )


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "--ar 16:9", "  --s 50 --tile"])
def test_empty_prompt(text: str) -> None:
    assert error(text) == "The prompt is empty. Please add a text prompt"


@pytest.mark.parametrize("dash", ["—", "–"])
def test_em_dash_and_en_dash_start_parameters(dash: str) -> None:
    p = one(f"landscape {dash}ar 3:2 {dash}tile")
    assert p.text == "landscape"
    assert p.params.aspect == (3, 2)
    assert p.params.tile


def test_dashes_inside_words_stay_text() -> None:
    assert one("wait—what a--b").text == "wait—what a--b"
    assert one("cat -- dog — x").text == "cat -- dog — x"
    assert one("cat --5 dog").text == "cat --5 dog"


def test_parameter_needs_a_space_after_its_name() -> None:
    assert error("cat --ar16:9") == "unrecognized argument: --ar16:9"


def test_text_keeps_its_case() -> None:
    assert one("A Red CAT --ar 1:1").text == "A Red CAT"


def test_whitespace_is_normalised() -> None:
    assert one("  a   big\t\ncat   --ar   16:9  ").text == "a big cat"


def test_quoted_text_is_kept_verbatim() -> None:
    p = one('Sci-fi poster with title text "Aliens!   Out  There"   now --v 6.1')
    assert p.text == 'Sci-fi poster with title text "Aliens!   Out  There" now'
    assert one("a sign “OPEN   LATE”  here").text == "a sign “OPEN   LATE” here"


def test_control_characters_are_dropped() -> None:
    assert one("a\x00b\x07 cat\x1b").text == "ab cat"


def test_emoji_sequences_survive() -> None:
    family = "👨\u200d👩\u200d👧"
    assert one(f"{family} at the beach").text == f"{family} at the beach"


def test_length_limit() -> None:
    defaults = " --ar 1:1 --chaos 0 --quality 1 --stylize 100 --v 7"
    longest = "a" * (6000 - len(defaults))
    assert one(longest).normalized() == longest + defaults
    assert error("a" * 6001) == "The prompt is too long: the limit is 6000 characters"
    assert error("a" * 1_000_000) == "The prompt is too long: the limit is 6000 characters"


def test_the_canonical_form_must_fit_the_limit_too() -> None:
    # 5990 typed characters become more than 6000 once defaults are written out, and the
    # canonical form is what gets stored and re-run.
    assert error("a" * 5990) == (
        "The prompt is too long with all its parameters written out: the limit is 6000 characters"
    )
    prompt = one("a" * 5900)
    assert parse_prompt(prompt.normalized()) == [prompt]


def test_text_after_parameters_is_an_error() -> None:
    assert error("cat --ar 16:9 on a mat").startswith('--ar takes one value, not "16:9 on a mat"')


@pytest.mark.parametrize("value", [None, 5, b"cat"])
def test_non_text_is_a_prompt_error(value: object) -> None:
    with pytest.raises(PromptError):
        parse_prompt(value)  # type: ignore[arg-type]
