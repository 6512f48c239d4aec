"""Permutations ``{a, b}``, ``--repeat``, the batch cap and relax mode."""

from __future__ import annotations

import pytest

from dreamloom.prompt import PromptContext, PromptError, parse_prompt


def texts(text: str, **ctx: object) -> list[str]:
    return [p.text for p in parse_prompt(text, PromptContext(**ctx))]  # type: ignore[arg-type]


def error(text: str, **ctx: object) -> str:
    with pytest.raises(PromptError) as info:
        parse_prompt(text, PromptContext(**ctx))  # type: ignore[arg-type]
    return info.value.message


def test_one_group() -> None:
    assert texts("a {happy,sad} penguin") == ["a happy penguin", "a sad penguin"]


def test_groups_multiply_in_reading_order() -> None:
    assert texts("a {happy, sad} {penguin, cat}") == [
        "a happy penguin",
        "a happy cat",
        "a sad penguin",
        "a sad cat",
    ]


def test_nested_groups() -> None:
    assert texts("a {happy, {very, quite} sad} penguin") == [
        "a happy penguin",
        "a very sad penguin",
        "a quite sad penguin",
    ]


def test_escapes() -> None:
    assert texts(r"a {red\, white, blue} flag") == ["a red, white flag", "a blue flag"]
    assert texts(r"curly \{braces\} stay") == ["curly {braces} stay"]
    assert texts(r"a back\\slash and a \path") == [r"a back\slash and a \path"]


def test_options_are_trimmed_and_may_be_empty() -> None:
    assert texts("a {big,} dog") == ["a big dog", "a dog"]
    assert texts("a {} dog") == ["a dog"]


def test_permutations_inside_parameters() -> None:
    prompts = parse_prompt("cat --ar {1:1, 16:9}")
    assert [p.params.aspect for p in prompts] == [(1, 1), (16, 9)]
    prompts = parse_prompt(r"cat --no {red\, blue, green}")
    assert [p.params.no for p in prompts] == [("red", "blue"), ("green",)]
    prompts = parse_prompt("cat --v {6, 6.1} --stop 50")
    assert [p.params.version for p in prompts] == ["6", "6.1"]


def test_a_bad_variant_fails_the_whole_prompt() -> None:
    assert error("cat --s {50, 5000}") == "--stylize must be between 0 and 1000 with --version 7"


def test_repeat_makes_consecutive_copies() -> None:
    prompts = parse_prompt("a {happy, sad} penguin --r 2")
    assert [p.text for p in prompts] == ["a happy penguin"] * 2 + ["a sad penguin"] * 2
    assert all(p.params.repeat == 2 for p in prompts)
    assert len(parse_prompt("cat --repeat 3", PromptContext(batch_cap=10))) == 3


def test_batch_cap() -> None:
    assert len(texts("{a,b,c,d} cat")) == 4
    assert error("{a,b,c,d,e} cat") == (
        "This prompt would submit 5 jobs, but you can submit at most 4 jobs at once "
        "(permutations × --repeat)"
    )
    assert error("{a,b} cat --r 3").startswith("This prompt would submit 6 jobs")
    assert error("cat --r 5").startswith("This prompt would submit 5 jobs")
    assert len(texts("{a,b} cat --r 5", batch_cap=10)) == 10
    assert error("cat --r 2", batch_cap=1).endswith(
        "at most 1 jobs at once (permutations × --repeat)"
    )


def test_huge_permutations_are_refused_before_expanding() -> None:
    assert error("{a,b}" * 200 + " cat") == (
        "This prompt would submit over a million jobs, but you can submit at most 4 jobs at "
        "once (permutations × --repeat)"
    )


def test_batches_are_refused_in_relax_mode() -> None:
    message = "You can not submit batch jobs in relax mode"
    assert error("a {happy, sad} penguin --relax") == message
    assert error("cat --r 2 --relax") == message
    assert error("{a, b} cat", settings="--relax") == message
    assert len(texts("cat --relax")) == 1
    assert len(texts("{a, b} cat --fast", settings="--relax")) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cat }", 'There is a "}" without a matching "{" (write \\} for a brace)'),
        ("cat {a, b", 'There is a "{" without a matching "}" (write \\{ for a brace)'),
        ("{a, {b}", 'There is a "{" without a matching "}" (write \\{ for a brace)'),
        ("{" * 9 + "a" + "}" * 9, "Permutations can be nested at most 8 deep"),
    ],
)
def test_malformed_permutations(text: str, message: str) -> None:
    assert error(text) == message


def test_deep_nesting_within_the_limit() -> None:
    assert texts("{" * 8 + "a, b" + "}" * 8 + " cat") == ["a cat", "b cat"]


def test_permutations_in_the_suffix_multiply_after_the_prompt() -> None:
    prompts = parse_prompt("{a, b} cat", PromptContext(suffix="--ar {1:1, 2:3}"))
    assert [(p.text, p.params.aspect) for p in prompts] == [
        ("a cat", (1, 1)),
        ("a cat", (2, 3)),
        ("b cat", (1, 1)),
        ("b cat", (2, 3)),
    ]
