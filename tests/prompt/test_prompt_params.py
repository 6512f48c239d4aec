"""Every parameter: aliases, range edges with the exact messages, defaults, version rules."""

from __future__ import annotations

import pytest

from dreamloom.prompt import Params, PromptContext, PromptError, parse_prompt
from dreamloom.prompt.style_codes import Side, StyleCode, random_style

REF = "https://example.com/ref.png"


def params(text: str, **ctx: object) -> Params:
    prompts = parse_prompt(text, PromptContext(**ctx))  # type: ignore[arg-type]
    return prompts[0].params


def error(text: str, **ctx: object) -> str:
    with pytest.raises(PromptError) as info:
        parse_prompt(text, PromptContext(**ctx))  # type: ignore[arg-type]
    return info.value.message


def test_defaults() -> None:
    p = params("a cat")
    assert p == Params()
    assert p.aspect == (1, 1)
    assert (p.chaos, p.stylize, p.quality, p.repeat) == (0, 100, 1.0, 1)
    assert (p.version, p.niji, p.raw, p.style) == ("7", False, False, None)
    assert (p.no, p.seed, p.stop, p.tile, p.weird, p.iw) == ((), None, 100, False, 0, 1.0)
    assert (p.sref, p.sw, p.sv, p.cref, p.cw, p.oref, p.ow) == ((), 100, 6, (), 100, None, 100)
    assert (p.personalize, p.draft, p.stealth, p.speed, p.video) == (None, False, None, None, False)


# (aliases, field, low, high, message name, extra parameters the value needs, version flag)
RANGED = [
    (("--c", "--chaos"), "chaos", 0, 100, "--chaos", "", "--version 7"),
    (("--s", "--stylize"), "stylize", 0, 1000, "--stylize", "", "--version 7"),
    (("--w", "--weird"), "weird", 0, 3000, "--weird", "", "--version 7"),
    (("--seed",), "seed", 0, 4294967295, "--seed", "", "--version 7"),
    (("--stop",), "stop", 10, 100, "--stop", "--v 6.1", "--version 6.1"),
    (("--sw",), "sw", 0, 1000, "--sw", "--sref 483", "--version 7"),
    (("--sv",), "sv", 1, 6, "--sv", "--sref 483", "--version 7"),
    (("--cw",), "cw", 0, 100, "--cw", f"--cref {REF} --v 6", "--version 6"),
    (("--ow",), "ow", 0, 1000, "--ow", f"--oref {REF}", "--version 7"),
    (("--r", "--repeat"), "repeat", 1, 40, "--repeat", "", "--version 7"),
]


@pytest.mark.parametrize(
    ("alias", "field", "low", "high", "long", "extra", "flag"),
    [(alias, *rest) for aliases, *rest in RANGED for alias in aliases],
)
def test_ranged_parameter_edges(
    alias: str, field: str, low: int, high: int, long: str, extra: str, flag: str
) -> None:
    ctx = {"batch_cap": 40}
    assert getattr(params(f"cat {alias} {low} {extra}", **ctx), field) == low
    assert getattr(params(f"cat {alias} {high} {extra}", **ctx), field) == high
    message = f"{long} must be between {low} and {high} with {flag}"
    assert error(f"cat {alias} {low - 1} {extra}", **ctx) == message
    assert error(f"cat {alias} {high + 1} {extra}", **ctx) == message
    assert error(f"cat {alias} lots {extra}", **ctx) == message
    assert error(f"cat {alias} 1.5 {extra}", **ctx) == message
    assert error(f"cat {extra} {alias}", **ctx) == message  # no value at all


def test_stylize_message_is_the_seed_text() -> None:
    assert error("cat --s 1001") == "--stylize must be between 0 and 1000 with --version 7"
    assert error("cat --s 2000 --niji 6") == "--stylize must be between 0 and 1000 with --niji 6"


def test_a_value_followed_by_more_words_says_where_parameters_go() -> None:
    assert error("cat --s 50 dog") == (
        '--s takes one value, not "50 dog" (parameters go at the end of the prompt)'
    )
    assert error("cat --tile pattern") == (
        '--tile takes no value, not "pattern" (parameters go at the end of the prompt)'
    )


@pytest.mark.parametrize("alias", ["--ar", "--aspect"])
def test_aspect_ratio(alias: str) -> None:
    assert params(f"cat {alias} 16:9").aspect == (16, 9)
    assert params(f"cat {alias} 1920:1080").aspect == (16, 9)
    assert params(f"cat {alias} 2:3").aspect == (2, 3)
    assert params(f"cat {alias} 14:1").aspect == (14, 1)
    assert params(f"cat {alias} 1:14").aspect == (1, 14)
    assert params(f"cat {alias} 28:2").aspect == (14, 1)


@pytest.mark.parametrize("value", ["15:1", "1:15", "100:1"])
def test_aspect_ratio_limit(value: str) -> None:
    assert error(f"cat --ar {value}") == "--ar must be between 1:14 and 14:1 with --version 7"


@pytest.mark.parametrize("value", ["16x9", "0:1", "1:0", "1.5:1", "16:", "-16:9", "a:b", ""])
def test_aspect_ratio_malformed(value: str) -> None:
    assert error(f"cat --ar {value}") == (
        "--ar must be width:height in whole numbers above 0, such as --ar 16:9"
    )


@pytest.mark.parametrize("alias", ["--q", "--quality"])
@pytest.mark.parametrize(
    ("version", "allowed", "refused", "listed", "flag"),
    [
        ("7", (1, 2, 4), (0.25, 0.5, 3), "1, 2, 4", "--version 7"),
        ("6.1", (0.25, 0.5, 1, 2), (4, 0.75), "0.25, 0.5, 1, 2", "--version 6.1"),
        ("5.2", (0.25, 0.5, 1), (2, 4), "0.25, 0.5, 1", "--version 5.2"),
        ("3", (0.25, 0.5, 1, 2), (4,), "0.25, 0.5, 1, 2", "--version 3"),
    ],
)
def test_quality_values_depend_on_version(
    alias: str,
    version: str,
    allowed: tuple[float, ...],
    refused: tuple[float, ...],
    listed: str,
    flag: str,
) -> None:
    for value in allowed:
        assert params(f"cat {alias} {value} --v {version}").quality == value
    assert params(f"cat {alias} .5 --v 6").quality == 0.5
    for value in refused:
        assert error(f"cat {alias} {value} --v {version}") == (
            f"--quality must be one of {listed} with {flag}"
        )


@pytest.mark.parametrize(
    ("version", "low", "high", "flag"),
    [("7", 0, 3, "--version 7"), ("6", 0, 3, "--version 6"), ("5.2", 0, 2, "--version 5.2")],
)
def test_image_weight_range_depends_on_version(
    version: str, low: int, high: int, flag: str
) -> None:
    assert params(f"cat --iw {low} --v {version}").iw == low
    assert params(f"cat --iw {high} --v {version}").iw == high
    assert params(f"cat --iw 0.5 --v {version}").iw == 0.5
    message = f"--iw must be between {low} and {high} with {flag}"
    assert error(f"cat --iw -0.5 --v {version}") == message
    assert error(f"cat --iw {high}.5 --v {version}") == message


def test_negative_image_weight_on_early_models() -> None:
    # Early FAQ: "Can an image prompt have a negative weight? Yes, with --iw -0.5".
    assert params("cat --iw -0.5 --v 3").iw == -0.5
    assert error("cat --iw -3 --v 3") == "--iw must be between -2 and 2 with --version 3"


@pytest.mark.parametrize("alias", ["--v", "--version"])
@pytest.mark.parametrize("version", ["1", "2", "3", "4", "5", "5.1", "5.2", "6", "6.1", "7"])
def test_versions(alias: str, version: str) -> None:
    p = params(f"cat {alias} {version}")
    assert (p.version, p.niji) == (version, False)


def test_version_spellings() -> None:
    assert params("cat --v 6.0").version == "6"
    assert params("cat --v 5.0").version == "5"


def test_version_named_as_in_the_settings_menu() -> None:
    assert params("cat --v niji 6").version == "niji 6"
    assert params("cat --version niji 5").niji
    assert params("cat --v niji").version == "niji 6"
    assert error("cat --v niji 7") == "--niji must be one of 4, 5, 6"


@pytest.mark.parametrize("value", ["8", "6.2", "nij", "", "v7"])
def test_unknown_version(value: str) -> None:
    assert error(f"cat --v {value}") == (
        "--version must be one of 1, 2, 3, 4, 5, 5.1, 5.2, 6, 6.1, 7"
    )


def test_niji() -> None:
    assert (params("cat --niji").version, params("cat --niji").niji) == ("niji 6", True)
    assert params("cat --niji 5").version == "niji 5"
    assert params("cat --niji 4").version == "niji 4"
    assert error("cat --niji 7") == "--niji must be one of 4, 5, 6"
    assert error("cat --v 6 --niji 5") == "--v and --niji can't be used together"


def test_no_is_a_trimmed_comma_list() -> None:
    assert params("a bowl of fruits --no citrus, table").no == ("citrus", "table")
    assert params("cat --no  red  hat ,, blue ,").no == ("red hat", "blue")
    message = "--no needs a list of things to leave out, such as --no citrus, table"
    assert error("cat --no") == message
    assert error("cat --no , ,") == message


def test_seed_bounds_and_text() -> None:
    assert params("cat --seed 4294967295").seed == 4294967295
    assert params("cat --seed 0").seed == 0
    assert error("cat --seed 99999999999999999999") == (
        "--seed must be between 0 and 4294967295 with --version 7"
    )


@pytest.mark.parametrize(("flag", "field"), [("--tile", "tile"), ("--draft", "draft")])
def test_flags(flag: str, field: str) -> None:
    assert getattr(params(f"cat {flag}"), field) is True
    assert getattr(params("cat"), field) is False


def test_raw() -> None:
    assert params("cat --raw").raw is True
    assert params("cat --style raw").raw is True
    assert params("cat --style raw").style is None
    assert params("cat --style raw --v 6.1").raw is True
    assert params("cat --raw --style raw").raw is True
    assert error("cat --style raw --v 5") == "Not compatible with --version 5: --style raw"
    assert error("cat --raw --v 4") == "Not compatible with --version 4: --raw"


def test_style_codes() -> None:
    one = StyleCode(12345, 16, ((0, Side.A), (3, Side.B))).encode()
    two = StyleCode(777, 32, ((5, Side.B),)).encode()
    assert params(f"cat --style {one} --v 5.2").style == one
    assert params(f"cat --style {one.upper()}-{two} --v 5.2").style == f"{one}-{two}"
    assert params("cat --style random --v 5.2").style == "random"
    # With a seed, random is settled at once: the seed's code, reproducibly.
    seeded = params("cat --style random --v 5.2 --seed 4").style
    assert seeded == random_style(4) and StyleCode.decode(seeded or "") is not None
    assert params("cat --style cute --niji 6").style == "cute"
    assert params(f"cat --raw --style {one} --v 5.2") == Params(version="5.2", raw=True, style=one)
    assert error("cat --style 4abc") == "Not compatible with --version 7: --style"
    assert error("cat --style a_b --v 5.2") == '--style takes raw or a style code, not "a_b"'
    assert error("cat --style --v 5.2") == '--style takes raw or a style code, not ""'
    # A mistyped code is refused, not drawn as some other style.
    assert error(f"cat --style {one[:-1]}x --v 5.2") == (
        f'"{one[:-1]}x" is not a style code: make one with /tune, or use --style random'
    )
    assert error("cat --style cute --v 5.2") == "--style cute needs --niji 5 or --niji 6"
    assert error(f"cat --style {one} --niji 6") == (
        "Style Tuner codes need --version 5.2, not --niji 6"
    )


def test_style_codes_round_trip() -> None:
    for seed in range(50):
        code = random_style(seed)
        decoded = StyleCode.decode(code)
        assert decoded is not None and decoded.encode() == code
        assert decoded.directions == 32 and decoded.choices
    assert StyleCode.decode("zzzzzzzz") is None


def test_style_reference() -> None:
    assert params(f"cat --sref {REF} 483").sref == (REF, "483")
    assert params("cat --sref 0483").sref == ("483",)
    assert params(f"cat --sref <{REF}>").sref == (REF,)
    assert params("cat --sref random").sref == ("random",)
    assert params("cat --sref 483 --sw 500 --sv 4").sw == 500
    assert params("cat --sref 483 --sv 4").sv == 4
    assert params("cat --sref 1 --v 6").sref == ("1",)
    assert params("cat --sref 1 --niji 6").sref == ("1",)
    assert error("cat --sref 1 --v 5.2") == "Not compatible with --version 5.2: --sref"
    assert error("cat --sref") == "--sref needs image links, style codes (numbers) or random"
    assert error("cat --sref cats") == (
        '--sref takes image links, style codes (numbers up to 4294967295) or random, not "cats"'
    )
    assert error("cat --sref 4294967296").startswith("--sref takes image links")
    assert error("cat --sw 50") == "--sw can only be used together with --sref"
    assert error("cat --sv 4") == "--sv can only be used together with --sref"


def test_random_style_reference_follows_the_seed() -> None:
    first = params("cat --sref random --seed 7").sref
    assert first == params("cat --seed 7 --sref random").sref
    assert first[0].isdigit() and 0 <= int(first[0]) <= 4294967295
    assert first != params("cat --sref random --seed 8").sref
    two = params("cat --sref random random --seed 7").sref
    assert two[0] == first[0] and two[1] != two[0]


def test_character_reference_is_v6_only() -> None:
    both = (REF, "https://example.com/b.jpg")
    assert params(f"cat --cref {both[0]} {both[1]} --v 6").cref == both
    assert params(f"cat --cref {REF} --cw 0 --v 6.1").cw == 0
    assert error(f"cat --cref {REF}") == "Not compatible with --version 7: --cref"
    assert error("cat --cw 50") == "Not compatible with --version 7: --cw"
    assert error(f"cat --cref {REF} --niji 6") == "Not compatible with --niji 6: --cref"
    assert error("cat --cw 50 --v 6") == "--cw can only be used together with --cref"
    assert error("cat --cref --v 6") == "--cref needs at least one image link"
    assert error("cat --cref face --v 6") == '--cref takes image links, not "face"'


def test_omni_reference_is_v7_only() -> None:
    assert params(f"A hedgehog drinking coffee --oref {REF}").oref == REF
    assert params(f"cat --oref {REF} --ow 1000").ow == 1000
    assert error(f"cat --oref {REF} --v 6.1") == "Not compatible with --version 6.1: --oref"
    assert error(f"cat --oref {REF} {REF}") == "--oref takes exactly one image link"
    assert error("cat --ow 50") == "--ow can only be used together with --oref"


@pytest.mark.parametrize("alias", ["--p", "--personalize", "--profile"])
def test_personalization(alias: str) -> None:
    assert params(f"cat {alias}").personalize == ()
    assert params(f"cat {alias} abc123 m7-x").personalize == ("abc123", "m7-x")
    assert params(f"cat {alias} --v 6").personalize == ()
    assert error(f"cat {alias} --v 5.2") == f"Not compatible with --version 5.2: {alias}"
    assert error(f"cat {alias} a/b") == f'{alias} takes personalization codes, not "a/b"'


def test_draft_is_v7_only() -> None:
    assert error("cat --draft --v 6.1") == "Not compatible with --version 6.1: --draft"


def test_visibility_and_speed() -> None:
    assert params("cat --stealth").stealth is True
    assert params("cat --public").stealth is False
    assert params("cat --fast").speed == "fast"
    assert params("cat --relax").speed == "relax"
    assert params("cat --turbo").speed == "turbo"
    assert error("cat --fast --relax") == "--fast and --relax can't be used together"
    assert error("cat --stealth --public") == "--stealth and --public can't be used together"
    assert error("cat --turbo now") == (
        '--turbo takes no value, not "now" (parameters go at the end of the prompt)'
    )


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("cat --stop 50", "--stop"),
        ("cat --stop 50 --v 7", "--stop"),
    ],
)
def test_stop_is_not_in_v7(text: str, flag: str) -> None:
    assert error(text) == f"Not compatible with --version 7: {flag}"


@pytest.mark.parametrize("version", ["1", "2", "3", "4", "5", "5.1", "5.2", "6", "6.1"])
def test_stop_works_before_v7(version: str) -> None:
    assert params(f"cat --stop 50 --v {version}").stop == 50


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com/a.png the cat hides --video",
        f"{REF} cat --video --loop",
        f"{REF} cat --end {REF}",
        f"{REF} cat --motion high",
    ],
)
def test_video_is_refused(text: str) -> None:
    assert error(text) == "Video is not supported on this server yet"


@pytest.mark.parametrize("name", ["xyz", "uplight", "upbeta", "sameseed", "hd", "test", "exp"])
def test_unrecognized_arguments(name: str) -> None:
    assert error(f"cat --{name}") == f"unrecognized argument: --{name}"


@pytest.mark.parametrize("name", ["AR 16:9", "Tile", "STYLIZE 5", "V 6"])
def test_parameters_are_lowercase_only(name: str) -> None:
    shown = name.split()[0]
    assert error(f"cat --{name}") == (
        f"unrecognized argument: --{shown} (parameters must be lowercase)"
    )


def test_duplicates_in_one_source_are_errors() -> None:
    assert error("cat --ar 1:1 --ar 2:3") == "--ar is given more than once"
    assert (
        error("cat --s 1 --stylize 2") == "--s and --stylize are the same parameter: give it once"
    )
    assert error("cat --tile --tile") == "--tile is given more than once"


def test_em_dash_parameters_are_named_without_dashes_in_messages() -> None:
    assert error("cat —xyz") == "unrecognized argument: --xyz"


def test_sref_weights_with_double_colons() -> None:
    assert params(f"cat --sref {REF}::2 483::0.5").sref == (f"{REF}::2", "483::0.5")
    assert params("cat --sref 483::1.0").sref == ("483",)
    assert params("cat --sref 483::2.50").sref == ("483::2.5",)
    assert params("cat --sref random::3 --seed 9").sref[0].endswith("::3")
    assert params("cat --sref random::3").sref == ("random::3",)
    assert params("cat --sref http://[::1]/a.png").sref == ("http://[::1]/a.png",)
    assert params("cat --sref http://[::1]/a.png::2").sref == ("http://[::1]/a.png::2",)
    assert error("cat --sref 483::x") == '--sref weights are numbers, not "x"'
    assert error("cat --sref 483::-1") == (
        '--sref weights are numbers of 0 or more after "::", not "483::-1"'
    )


def test_sref_random_becomes_the_seeds_code_and_keeps_its_weight() -> None:
    from dreamloom.prompt import with_style_codes

    (prompt,) = parse_prompt("a cat --sref random::3 123")
    picked = with_style_codes(prompt, 5)
    code, _, weight = picked.params.sref[0].partition("::")
    assert code.isdigit() and weight == "3" and picked.params.sref[1] == "123"
    (seeded,) = parse_prompt("a cat --sref random::3 123 --seed 5")
    assert seeded.params.sref == picked.params.sref  # what --seed gives at parse time
