"""``normalized()``, ``to_dict``/``from_dict`` and the error type."""

from __future__ import annotations

import json
import pickle

import pytest

from dreamloom.prompt import Params, Prompt, PromptContext, PromptError, WeightedText, parse_prompt

A = "https://example.com/a.png"
B = "https://example.com/b.webp?x=1"

EXAMPLES = [
    "a cat",
    "a cat --ar 1920:1080 --c 20 --s 750 --w 100 --seed 42 --tile --no red, blue --raw",
    f"{A} {B} a cat --iw 2.5 --sref 483 {A} random --sw 300 --sv 4 --p abc def --stealth --fast",
    f"{A} {B}",
    f"{A} a cat --oref {B} --ow 400 --draft --q 4 --public --turbo",
    f"cat --cref {A} --cw 20 --v 6 --stop 40 --q 0.25",
    "space:: ship::2 fog::-0.5 --niji 5 --style cute",
    r'poster "  Aliens!  " \{literal\} back\\slash --style 5l3w2ojszg-8tstqmpi15on --v 5.2'
    " --repeat 3",
    "a dog? no: a cat —ar 2:3 —tile",
    "cat --p --sref random --seed 9",
]


def only(text: str, **ctx: object) -> Prompt:
    return parse_prompt(text, PromptContext(**ctx))[0]  # type: ignore[arg-type]


def test_normalized_form() -> None:
    prompt = only(f"{A}  a  Cat  --s 750 --no fog ,dust --tile --ar 32:18 --p x1 --relax")
    assert prompt.normalized() == (
        f"{A} a Cat --ar 16:9 --chaos 0 --quality 1 --stylize 750 --tile --no fog, dust "
        "--p x1 --relax --v 7"
    )
    assert only("a cat --niji 6").normalized() == (
        "a cat --ar 1:1 --chaos 0 --quality 1 --stylize 100 --niji 6"
    )


def test_normalized_order_does_not_depend_on_input_order() -> None:
    first = only("cat --tile --ar 2:3 --seed 5 --s 50 --no x")
    second = only("cat --no x --s 50 --seed 5 --ar 2:3 --tile")
    assert first.normalized() == second.normalized()


@pytest.mark.parametrize("text", EXAMPLES)
def test_normalized_parses_back_to_the_same_prompt(text: str) -> None:
    ctx = PromptContext(batch_cap=4)
    prompt = parse_prompt(text, ctx)[0]
    again = parse_prompt(prompt.normalized(), ctx)
    assert again[0] == prompt
    assert again[0].normalized() == prompt.normalized()


def test_normalized_keeps_context_values() -> None:
    prompt = only("cat", settings="--relax --s 250", suffix="--ar 2:3")
    assert parse_prompt(prompt.normalized())[0].params == prompt.params


def test_normalized_escapes_what_would_permute() -> None:
    prompt = only(r"a \{b\, c\} d")
    assert prompt.text == "a {b, c} d"
    assert len(parse_prompt(prompt.normalized())) == 1


@pytest.mark.parametrize("text", EXAMPLES)
def test_dict_round_trip(text: str) -> None:
    prompt = only(text)
    data = json.loads(json.dumps(prompt.to_dict()))
    assert Prompt.from_dict(data) == prompt
    assert data["normalized"] == prompt.normalized()
    assert Params.from_dict(prompt.params.to_dict()) == prompt.params


def test_to_dict_shape() -> None:
    data = only("space:: ship::2 --v 6 --ar 16:9 --p").to_dict()
    assert data["parts"] == [{"text": "space", "weight": 1.0}, {"text": "ship", "weight": 2.0}]
    assert data["params"]["aspect"] == [16, 9]
    assert data["params"]["personalize"] == []
    assert data["params"]["seed"] is None
    assert data["image_prompts"] == []


def test_params_from_dict_fills_defaults_and_ignores_unknown_keys() -> None:
    assert Params.from_dict({"stylize": 50, "future": 1}) == Params(stylize=50)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"text": "a", "parts": [], "image_prompts": "x", "params": {"aspect": 5}},
        {"text": "a", "parts": [{"text": "a"}], "image_prompts": [], "params": {}},
        {"text": "a", "parts": [], "image_prompts": [], "params": {"tile": "yes"}},
        {"text": "a", "parts": [], "image_prompts": [], "params": {"speed": "slow"}},
        {"text": "a", "parts": [], "image_prompts": [], "params": {"no": "abc"}},
    ],
)
def test_from_dict_rejects_malformed_data(data: dict[str, object]) -> None:
    with pytest.raises(PromptError):
        Prompt.from_dict(data)


def test_parts_properties() -> None:
    prompt = only("a::2 b::-1 c::0 --v 6")
    assert prompt.positive_parts == (WeightedText("a", 2.0),)
    assert prompt.negative_parts == (WeightedText("b", -1.0),)


def test_prompt_error_is_a_value_error_with_its_message() -> None:
    with pytest.raises(ValueError) as info:
        parse_prompt("cat --xyz")
    assert isinstance(info.value, PromptError)
    assert str(info.value) == info.value.message == "unrecognized argument: --xyz"
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.message == info.value.message


def test_values_are_frozen_and_hashable() -> None:
    prompt = only("cat --p a --no x")
    assert hash(prompt) == hash(only("cat --p a --no x"))
    with pytest.raises(AttributeError):
        prompt.text = "dog"  # type: ignore[misc]
