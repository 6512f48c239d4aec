"""Properties over arbitrary input: only PromptError escapes, and normalized() is a fixed point."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dreamloom.prompt import Prompt, PromptContext, PromptError, parse_prompt, permutations
from dreamloom.prompt.style_codes import Side, StyleCode
from dreamloom.prompt.versions import rules_for

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

IMAGES = [
    "https://example.com/a.png",
    "https://cdn.example.com/b.JPG?ex=1&is=2",
    "<https://x.io/c.webp>",
]
WORDS = [
    "cat", "A", "red", "hat,", '"Hello', 'World"', "“quoted”", "space::", "ship::2", "fog::-0.5",
    "::", "::0", "{a,b}", "{x, {y, z}}", "\\{", "\\,", "\\", "}", "{", "—", "--", "a--b", "😀",
    "https://example.com/page", "blob:https://x/1", "\t", "\x00", "  ", "-0.5", "1:1",
]  # fmt: skip
NAMES = [
    "ar", "aspect", "c", "chaos", "s", "stylize", "q", "quality", "r", "repeat", "v", "version",
    "niji", "w", "weird", "p", "personalize", "profile", "no", "seed", "stop", "tile", "iw",
    "sref", "sw", "sv", "cref", "cw", "oref", "ow", "raw", "style", "draft", "stealth", "public",
    "fast", "relax", "turbo", "video", "xyz", "AR", "Tile",
]  # fmt: skip
VALUES = [
    "0", "1", "2", "4", "3", "6", "7", "5.2", "6.1", "10", "50", "100", "101", "1000", "1001",
    "3000", "-1", "0.25", ".5", "2.5", "16:9", "1920:1080", "15:1", "0:1", "raw", "cute",
    "c1-c2", "random", "483", "abc", "x,y", "{1:1, 2:3}", "{6, 7}", IMAGES[0], IMAGES[2],
    "4294967295", "4294967296",
]  # fmt: skip
DASHES = ["--", "—", "–"]

# Two Style Tuner codes joined (`--style code1-code2`).
TUNER_CODES = "-".join(StyleCode(seed, 16, ((seed % 16, Side.A),)).encode() for seed in (11, 12))


@st.composite
def parameter(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(DASHES)) + draw(st.sampled_from(NAMES))
    values = draw(st.lists(st.sampled_from(VALUES), max_size=2))
    return " ".join([name, *values])


@st.composite
def prompt_text(draw: st.DrawFn) -> str:
    images = draw(st.lists(st.sampled_from(IMAGES), max_size=3))
    words = draw(st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=6))
    params = draw(st.lists(parameter(), max_size=6))
    return " ".join([*images, *words, *params])


@st.composite
def context(draw: st.DrawFn) -> PromptContext:
    settings_text = " ".join(draw(st.lists(parameter(), max_size=2)))
    suffix = " ".join(draw(st.lists(parameter(), max_size=2)))
    option_sets = draw(
        st.dictionaries(st.sampled_from(["mine", "ar", "x"]), parameter(), max_size=2)
    )
    cap = draw(st.sampled_from([1, 4, 10, 40]))
    return PromptContext(settings_text, suffix, option_sets, cap)


SYNTAX = [*'{},\\:-—–"“” \n\t\x00ab1.@<>/', "--ar ", "::", "https://", ".png"]
NASTY = st.lists(st.sampled_from(SYNTAX) | st.characters(), max_size=40).map("".join)


PLAIN_WORDS = ["cat", "Red", "hat,", "at dawn", '"Hello  World"', "“OPEN”", "😀", "a--b", "\\{x\\}"]
VERSION_FLAGS = [
    ("7", ""), ("7", "--v 7"), ("6.1", "--v 6.1"), ("6", "--version 6"), ("5.2", "--v 5.2"),
    ("3", "--v 3"), ("niji 6", "--niji"), ("niji 5", "--niji 5"),
]  # fmt: skip


def _alias(draw: st.DrawFn, *names: str) -> str:
    return draw(st.sampled_from(DASHES)) + draw(st.sampled_from(names))


@st.composite
def valid_prompt(draw: st.DrawFn) -> str:
    """Prompts that follow every rule, so that they must parse (and then be fixed points)."""
    version, version_flag = draw(st.sampled_from(VERSION_FLAGS))
    rules = rules_for(version)
    maybe = st.booleans()
    params = [version_flag] if version_flag else []

    def add(present: bool, text: str) -> None:
        if present:
            params.append(text)

    w, h = draw(
        st.tuples(st.integers(1, 60), st.integers(1, 60)).filter(lambda s: max(s) <= 14 * min(s))
    )
    add(draw(maybe), f"{_alias(draw, 'ar', 'aspect')} {w}:{h}")
    add(draw(maybe), f"{_alias(draw, 'c', 'chaos')} {draw(st.integers(0, 100))}")
    add(draw(maybe), f"{_alias(draw, 's', 'stylize')} {draw(st.integers(0, 1000))}")
    add(draw(maybe), f"{_alias(draw, 'w', 'weird')} {draw(st.integers(0, 3000))}")
    add(draw(maybe), f"--seed {draw(st.integers(0, 4294967295))}")
    quality = draw(st.sampled_from(rules.quality))
    add(draw(maybe), f"{_alias(draw, 'q', 'quality')} {quality:g}")
    low, high = rules.iw
    iw = draw(st.integers(int(low * 1000), int(high * 1000))) / 1000
    add(draw(maybe), f"--iw {iw}")
    add(rules.stop and draw(maybe), f"--stop {draw(st.integers(10, 100))}")
    no = draw(st.lists(st.sampled_from(["red", "blue hat", "fog"]), min_size=1, max_size=3))
    add(draw(maybe), "--no " + ", ".join(no))
    add(draw(maybe), "--tile")
    if rules.sref and draw(maybe):
        refs = draw(st.lists(st.sampled_from(["483", "random", IMAGES[0]]), min_size=1))
        params.append("--sref " + " ".join(refs))
        add(draw(maybe), f"--sw {draw(st.integers(0, 1000))}")
        add(draw(maybe), f"--sv {draw(st.integers(1, 6))}")
    if rules.cref and draw(maybe):
        params.append(f"--cref {IMAGES[0]} {IMAGES[1]}")
        add(draw(maybe), f"--cw {draw(st.integers(0, 100))}")
    if rules.oref and draw(maybe):
        params.append(f"--oref {IMAGES[2]}")
        add(draw(maybe), f"--ow {draw(st.integers(0, 1000))}")
    codes = draw(st.lists(st.sampled_from(["abc123", "m7-x"]), max_size=2))
    add(rules.personalize and draw(maybe), " ".join([_alias(draw, "p", "profile"), *codes]))
    style_code = rules.style_codes and draw(maybe)
    styles = ["cute", "scenic"] if rules.niji else [TUNER_CODES, "random"]
    add(style_code, "--style " + draw(st.sampled_from(styles)))
    # One --style per prompt: with a style code, raw can only be written as --raw.
    raw_forms = ["--raw"] if style_code else ["--raw", "--style raw"]
    add(rules.raw and draw(maybe), draw(st.sampled_from(raw_forms)))
    add(rules.draft and draw(maybe), "--draft")
    add(draw(maybe), draw(st.sampled_from(["--stealth", "--public"])))
    repeat = draw(st.integers(1, 3))
    add(repeat > 1, f"{_alias(draw, 'r', 'repeat')} {repeat}")
    speeds = ["--fast", "--turbo"] if repeat > 1 else ["--fast", "--turbo", "--relax"]
    add(draw(maybe), draw(st.sampled_from(speeds)))

    words = draw(st.lists(st.sampled_from(PLAIN_WORDS), min_size=1, max_size=5))
    if rules.multi_prompts and draw(maybe):
        words = [*words, "::2", "fog::-0.5"]
    if repeat == 1 and "--relax" not in params and draw(maybe):
        words.append("{warm, cold}")
    images = draw(st.lists(st.sampled_from(IMAGES), max_size=2))
    return " ".join([*images, *words, *draw(st.permutations(params))])


def parse_or_error(text: str, ctx: PromptContext) -> list[Prompt] | None:
    try:
        prompts = parse_prompt(text, ctx)
    except PromptError as exc:
        assert exc.message and str(exc) == exc.message
        return None
    assert prompts and all(isinstance(p, Prompt) for p in prompts)
    assert len(prompts) <= ctx.batch_cap
    return prompts


def check_fixed_point(prompts: list[Prompt], ctx: PromptContext) -> None:
    # The normalized text carries everything the context added, so it needs none of it back.
    plain = PromptContext(batch_cap=ctx.batch_cap)
    for prompt in prompts:
        again = parse_prompt(prompt.normalized(), plain)
        assert len(again) == prompt.params.repeat
        assert again[0].params == prompt.params
        assert again[0] == prompt
        assert Prompt.from_dict(json.loads(json.dumps(prompt.to_dict()))) == prompt


@SETTINGS
@given(st.text() | NASTY)
def test_escape_is_undone_by_permutation_parsing(text: str) -> None:
    assert permutations.expand(permutations.parse(permutations.escape(text))) == [text]


@SETTINGS
@given(st.text())
def test_any_text_parses_or_raises_prompt_error(text: str) -> None:
    prompts = parse_or_error(text, PromptContext())
    if prompts:
        check_fixed_point(prompts, PromptContext())


@SETTINGS
@given(NASTY)
def test_syntax_characters_parse_or_raise_prompt_error(text: str) -> None:
    prompts = parse_or_error(text, PromptContext())
    if prompts:
        check_fixed_point(prompts, PromptContext())


@settings(SETTINGS, max_examples=150)
@given(prompt_text(), context())
def test_grammar_prompts_parse_or_raise_and_normalize_to_a_fixed_point(
    text: str, ctx: PromptContext
) -> None:
    prompts = parse_or_error(text, ctx)
    if prompts:
        check_fixed_point(prompts, ctx)


@settings(SETTINGS, max_examples=120)
@given(valid_prompt())
def test_valid_prompts_parse_and_normalize_to_a_fixed_point(text: str) -> None:
    ctx = PromptContext(batch_cap=40)
    try:
        prompts = parse_prompt(text, ctx)
    except PromptError as exc:
        raise AssertionError(f"{text!r} was refused: {exc}") from None
    check_fixed_point(prompts, ctx)


def _clean_by_definition(text: str) -> str:
    import unicodedata

    return "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char) not in ("Cc", "Cs")
    )


def _normalize_by_definition(text: str) -> str:
    out: list[str] = []
    quoted = False
    for char in text.strip(" "):
        if char in '"“”':
            quoted = not quoted
        elif char == " " and not quoted and out and out[-1] == " ":
            continue
        out.append(char)
    return "".join(out)


TEXTY = st.text(
    alphabet=st.sampled_from(["a", " ", "\t", "\n", '"', "“", "\u200d", "\x00", "\u00a0", "é"])
)


@SETTINGS
@given(st.text() | TEXTY)
def test_cleaning_and_spacing_follow_their_definitions(text: str) -> None:
    """``clean`` and ``normalize_spaces`` skip their walk for plain text: the answer must
    still be the walk's."""
    from dreamloom.prompt.text import clean, normalize_spaces

    assert clean(text) == _clean_by_definition(text)
    assert normalize_spaces(text) == _normalize_by_definition(text)


@SETTINGS
@given(st.text() | NASTY)
def test_text_without_groups_is_one_piece(text: str) -> None:
    escaped = permutations.escape(text)
    assert permutations.parse(escaped) == ((text,) if text else ())
