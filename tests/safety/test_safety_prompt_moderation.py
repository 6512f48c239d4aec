"""The prompt term list: whole words, leetspeak, allowed phrases, operator lists."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from dreamloom.safety import PROMPT_FLAGGED, PromptModerator, default_rules, parse_terms
from dreamloom.safety.terms import TermMatcher


@pytest.fixture(scope="module")
def moderator() -> PromptModerator:
    return PromptModerator()


@pytest.mark.parametrize(
    "prompt",
    [
        "a class of students in a sunlit classroom",
        "grass and a bass guitar, passion, embassy",
        "an assassin in a hooded cloak",
        "Scunthorpe town hall at dusk",
        "a cocktail on a glass table, classic style",
        "Essex countryside, sextant on a map",
        "a child asleep in bed, soft light",
        "sexy woman in a red dress, fashion photo",
        "a clear view of the milky way",
        "portrait of a teacher, documentary photo --ar 2:3",
    ],
)
def test_ordinary_prompts_pass(moderator: PromptModerator, prompt: str) -> None:
    verdict = moderator.check(prompt)
    assert verdict.allowed, verdict
    assert verdict.reason is None and verdict.category is None and verdict.term is None


@pytest.mark.parametrize(
    ("prompt", "category"),
    [
        ("nude figure study", "sexual"),
        ("NUDE figure study", "sexual"),
        ("a pornographic scene", "sexual"),
        ("p0rn star", "sexual"),
        ("s3x on the beach", "sexual"),
        ("$ex on the beach", "sexual"),
        ("kick @ss robot", "sexual"),
        ("nice a$$", "sexual"),
        ("4ss", "sexual"),
        ("n4k3d warrior", "sexual"),
        ("n.u.d.e beach", "sexual"),
        ("n-u-d-e beach", "sexual"),
        ("nuuuude beach", "sexual"),
        ("nüde beach", "sexual"),
        ("ｎｕｄｅ beach", "sexual"),  # fullwidth letters
        ("nu\u200bde beach", "sexual"),  # zero-width space inside the word
        ("a nаked man", "sexual"),  # Cyrillic а
        ("sex-toy shop", "sexual"),
        ("sextoy shop", "sexual"),
        ("a decapitated statue", "gore"),
        ("self-harm", "gore"),
        ("nazi rally", "hate"),
        ("sexy child", "minors"),
        ("a teenager in a bikini", "minors"),
        ("seductive little girl", "minors"),
    ],
)
def test_listed_terms_are_flagged(moderator: PromptModerator, prompt: str, category: str) -> None:
    verdict = moderator.check(prompt)
    assert not verdict.allowed
    assert verdict.reason == PROMPT_FLAGGED == "prompt flagged by AI moderator"
    assert verdict.category == category
    assert verdict.term


def test_verdict_names_what_matched_for_the_operator(moderator: PromptModerator) -> None:
    assert moderator.check("nice s3x").term == "s3x"
    assert moderator.check("a sexy teen").term == "teen & sexy"


def test_words_inside_other_words_never_match() -> None:
    matcher = TermMatcher(parse_terms("ass\nsex"))
    for text in ("class", "classic", "grass", "assassin", "bass", "massive", "Essex", "sextant"):
        assert matcher.first_match(text) is None, text
    for text in ("ass", "ASS!", "(ass)", "ass.", "big-ass", "@ss", "a$$", "4ss", "asss"):
        assert matcher.first_match(text) is not None, text


def test_allowed_phrases_override_the_list() -> None:
    plain = PromptModerator()
    allowing = PromptModerator(allowed_terms=["sex pistols", "naked eye"])
    assert not plain.check("Sex Pistols tour poster").allowed
    assert allowing.check("Sex Pistols tour poster").allowed
    assert allowing.check("stars seen with the naked eye").allowed
    # Only the phrase is allowed: the word alone is still caught.
    assert not allowing.check("Sex Pistols and sex").allowed
    assert not allowing.check("naked warrior").allowed


def test_allowing_a_single_word_removes_it() -> None:
    assert PromptModerator(allowed_terms=["nude"]).check("nude figure study").allowed


def test_extra_terms_from_the_configuration() -> None:
    moderator = PromptModerator(extra_terms=["dragon", "clown & knife", "  "])
    verdict = moderator.check("a DR4GON over the city")
    assert not verdict.allowed
    assert verdict.category == "custom"
    assert moderator.check("dragonfly on a leaf").allowed
    assert moderator.check("a clown at a party").allowed
    assert not moderator.check("a clown with a knife").allowed


def test_operator_list_file_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "terms.txt"
    path.write_text("# only one rule\n[brand]\nacme*\n", encoding="utf-8")
    moderator = PromptModerator.from_file(path)
    assert moderator.check("nude figure study").allowed
    verdict = moderator.check("ACMEcorp logo")
    assert (verdict.allowed, verdict.category) == (False, "brand")


def test_term_list_format() -> None:
    rules = parse_terms("loose\n[a]\n# comment\n\none | two & three\n[b]\nfour*\n")
    assert [(r.category, r.groups) for r in rules] == [
        ("custom", (("loose",),)),
        ("a", (("one", "two"), ("three",))),
        ("b", (("four*",),)),
    ]
    assert rules[1].text == "one | two & three"
    for malformed in ("a &", "| &", "&"):
        with pytest.raises(ValueError):
            parse_terms(malformed)


def test_shipped_list_loads_with_its_categories() -> None:
    categories = {rule.category for rule in default_rules()}
    assert {"sexual", "minors", "gore", "hate"} <= categories


def test_pathological_prompts_stay_fast(moderator: PromptModerator) -> None:
    started = time.monotonic()
    for prompt in ("s" * 6000, "a" * 3000 + "$" * 3000, "n." * 3000, "sexy " * 1200):
        moderator.check(prompt)
    assert time.monotonic() - started < 2.0


def _rule_by_rule(matcher: TermMatcher, text: str) -> object:
    """The matcher's answer without its one-search prefilter."""
    saved = matcher._any
    matcher._any = re.compile("")  # matches everywhere: every rule is then tried
    try:
        return matcher.first_match(text)
    finally:
        matcher._any = saved


def test_the_prefilter_never_changes_the_answer() -> None:
    """A clean prompt is cleared by one search for any rule's first term; that search must
    find every term the rules would, wherever it stands and however it is spelled."""
    matcher = TermMatcher(default_rules())
    texts = []
    for rule in default_rules():
        for term in (t.rstrip("*") for group in rule.groups for t in group):
            leet = term.replace("a", "4").replace("e", "3").replace("s", "$")
            spread = ".".join(term)
            texts += [term, f"a {term}!", f"({leet}) art", f"x {spread} y", f"class{term}es"]
    texts += ["a lighthouse at dusk --ar 16:9", "", "Essex sextant", "a b c " * 50]
    for text in texts:
        assert matcher.first_match(text) == _rule_by_rule(matcher, text), text
