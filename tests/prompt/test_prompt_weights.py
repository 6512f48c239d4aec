"""Multi-prompts with ``::`` weights."""

from __future__ import annotations

import pytest

from dreamloom.prompt import Prompt, PromptContext, PromptError, WeightedText, parse_prompt

W = WeightedText


def one(text: str) -> Prompt:
    prompts = parse_prompt(text, PromptContext())
    assert len(prompts) == 1
    return prompts[0]


def error(text: str) -> str:
    with pytest.raises(PromptError) as info:
        parse_prompt(text)
    return info.value.message


def parts(text: str, version: str = "6.1") -> tuple[WeightedText, ...]:
    return one(f"{text} --v {version}").parts


def test_space_ship() -> None:
    assert parts("space:: ship::2") == (W("space", 1), W("ship", 2))


def test_early_faq_examples() -> None:
    assert parts("hot dog::2 food::-1") == (W("hot dog", 2), W("food", -1))
    assert parts("hot dog::0.5 animal::-0.25") == (W("hot dog", 0.5), W("animal", -0.25))
    assert parts("hot dog:: food::-1 animal::") == (
        W("hot dog", 1),
        W("food", -1),
        W("animal", 1),
    )


def test_weight_covers_all_text_since_the_previous_colons() -> None:
    # "hot dog animal::-1" is one part of weight -1, not "hot dog" plus "animal::-1".
    assert parts("hot dog animal::-1 cat::2") == (W("hot dog animal", -1), W("cat", 2))
    assert error("hot dog animal::-1 --v 6") == (
        "The sum of all multi-prompt weights must be positive"
    )


def test_weights_must_sum_above_zero() -> None:
    assert error("a::1 b::-1 --v 6") == "The sum of all multi-prompt weights must be positive"
    assert parts("a::1.5 b::-1") == (W("a", 1.5), W("b", -1))


def test_positive_and_negative_parts() -> None:
    p = one("castle::2 fog::-0.5 moon::0 --v 6")
    assert p.positive_parts == (W("castle", 2),)
    assert p.negative_parts == (W("fog", -0.5),)
    assert p.text == "castle::2 fog::-0.5 moon::0"


def test_weight_must_follow_the_colons_directly() -> None:
    assert parts("a:: 2 b") == (W("a", 1), W("2 b", 1))
    assert parts("a::2b") == (W("a", 1), W("2b", 1))
    assert parts("a::.5") == (W("a", 0.5),)


def test_without_colons_the_whole_text_is_one_part() -> None:
    assert parts("a castle, at night") == (W("a castle, at night", 1),)


def test_multi_prompts_are_not_in_v7() -> None:
    assert error("space:: ship::2") == "Not compatible with --version 7: multi-prompts (::)"
    assert error("space:: ship --v 7") == "Not compatible with --version 7: multi-prompts (::)"


MULTI_PROMPT_VERSIONS = ["--v 1", "--v 2", "--v 3", "--v 4", "--v 5", "--v 5.2", "--v 6"]
MULTI_PROMPT_VERSIONS += ["--v 6.1", "--niji 4", "--niji 5", "--niji 6"]


@pytest.mark.parametrize("flag", MULTI_PROMPT_VERSIONS)
def test_multi_prompts_work_up_to_v6_1_and_niji(flag: str) -> None:
    assert one(f"space:: ship::2 {flag}").parts == (W("space", 1), W("ship", 2))


def test_colons_alone_are_an_empty_prompt() -> None:
    assert error(":: --v 6") == "The prompt is empty. Please add a text prompt"
