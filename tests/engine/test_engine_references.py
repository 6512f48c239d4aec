"""Image references on the diffusers backend: the tiny pipeline with the tiny IP-Adapter, loaded
from disk by diffusers' own `load_ip_adapter`.

The tiny adapter is fitted to carry a reference's mean colour (`engine.tiny_adapter`); the
colour tests run it on the tiny pipeline with the faithful VAE, whose pictures are its latents.
The others run on the plain tiny pipeline: references change the picture, by how much, and the
same reference always makes the same picture."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dreamloom.engine import (
    Backend,
    EngineResult,
    PromptPart,
    Recipe,
    Reference,
    ReferenceKind,
    load_backend,
    model_info,
    references_for,
)
from dreamloom.engine.backends.base import BatchMember
from dreamloom.engine.backends.diffusers import DiffusersBackend
from dreamloom.engine.backends.ip_adapter import (
    AdapterError,
    AdapterSource,
    load_adapter,
    style_layers,
)
from dreamloom.engine.conditioning import ALL_KINDS, crop_box, strength
from dreamloom.engine.options import OptionError
from dreamloom.engine.tiny import build_tiny_pipeline
from dreamloom.prompt import parse_prompt
from dreamloom.prompt.style_codes import Side, StyleCode

RED = "https://pictures.test/red.png"
PORTRAIT = "https://pictures.test/portrait.png"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _plain(colour: tuple[int, int, int]) -> bytes:
    return _png(Image.new("RGB", (96, 96), colour))


def _portrait() -> bytes:
    """Blue all round, a red and yellow "face" in the upper middle."""
    picture = Image.new("RGB", (96, 96), (40, 60, 200))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((34, 14, 62, 46), fill=(230, 60, 40))
    draw.rectangle((40, 24, 56, 30), fill=(250, 230, 60))
    return _png(picture)


def _pixels(result: EngineResult) -> np.ndarray:
    return np.stack([np.asarray(image, dtype=np.float64) for image in result.images])


def _difference(a: EngineResult, b: EngineResult) -> float:
    return float(np.abs(_pixels(a) - _pixels(b)).mean())


@pytest.fixture(scope="session")
def adapter_backend(model_cache: Path, single_thread: None) -> Backend:
    return load_backend("tiny", cache_dir=model_cache, ip_adapter="tiny")


@pytest.fixture(scope="session")
def colour_backend(model_cache: Path, single_thread: None) -> Backend:
    pipeline = build_tiny_pipeline(0, faithful_vae=True)
    load_adapter(pipeline, "tiny", model_cache)
    return DiffusersBackend(pipeline, model_info("tiny"))


def _mean_colour(result: EngineResult) -> np.ndarray:
    return _pixels(result).mean(axis=(0, 1, 2))


@pytest.fixture
def fast(recipe: Callable[..., Recipe]) -> Callable[..., Recipe]:
    def make(*references: Reference, **changes: object) -> Recipe:
        return recipe(steps=2, references=tuple(references), **changes)

    return make


def _references(text: str, images: dict[str, bytes] | None = None) -> tuple[Reference, ...]:
    return references_for(parse_prompt(text)[0], images or {})


def test_a_model_takes_references_only_with_an_adapter(
    adapter_backend: Backend, tiny_backend: Backend, model_cache: Path
) -> None:
    assert adapter_backend.info.reference_kinds == ALL_KINDS
    assert tiny_backend.info.reference_kinds == frozenset()
    # The service asks before any worker has loaded the model.
    assert model_info("tiny", model_cache, ip_adapter="tiny").reference_kinds == ALL_KINDS
    assert model_info("tiny", model_cache).reference_kinds == frozenset()


def test_without_references_the_adapter_changes_no_pixel(
    adapter_backend: Backend, tiny_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    assert np.array_equal(_pixels(adapter_backend.run(fast())), _pixels(tiny_backend.run(fast())))


def test_a_model_without_adapter_refuses_references(
    tiny_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    with pytest.raises(ValueError, match="model tiny takes no image references"):
        tiny_backend.run(fast(Reference(ReferenceKind.IMAGE, 1.0, image=_plain((255, 0, 0)))))


def test_an_image_prompt_changes_the_picture_more_with_a_larger_iw(
    adapter_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    plain = adapter_backend.run(fast())
    distances = []
    for iw in ("0.5", "1", "3"):
        references = _references(f"{RED} a house --iw {iw}", {RED: _plain((255, 0, 0))})
        assert [r.kind for r in references] == [ReferenceKind.IMAGE]
        distances.append(_difference(adapter_backend.run(fast(*references)), plain))
    assert 2.0 < distances[0] < distances[1] < distances[2]
    # Another picture, another result; the same picture, the same result.
    red = fast(Reference(ReferenceKind.IMAGE, 1.0, image=_plain((255, 0, 0))))
    blue = fast(Reference(ReferenceKind.IMAGE, 1.0, image=_plain((0, 0, 255))))
    assert np.array_equal(_pixels(adapter_backend.run(red)), _pixels(adapter_backend.run(red)))
    assert _difference(adapter_backend.run(red), adapter_backend.run(blue)) > 2.0


@pytest.mark.parametrize("colour", [(255, 0, 0), (0, 0, 255), (40, 200, 40)])
def test_an_image_prompt_pulls_the_colour_toward_its_own_more_with_a_larger_iw(
    colour_backend: Backend, fast: Callable[..., Recipe], colour: tuple[int, int, int]
) -> None:
    target = np.array(colour, dtype=np.float64)
    distances = [np.linalg.norm(_mean_colour(colour_backend.run(fast())) - target)]
    for iw in ("0.5", "1", "3"):
        references = _references(f"{RED} a house --iw {iw}", {RED: _plain(colour)})
        result = colour_backend.run(fast(*references))
        distances.append(np.linalg.norm(_mean_colour(result) - target))
    assert distances == sorted(distances, reverse=True), distances
    assert distances[-1] < distances[0] - 10, distances


def test_a_moodboard_of_red_pictures_makes_results_redder(
    colour_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    def redness(result: EngineResult) -> float:
        r, g, b = _mean_colour(result)
        return float(r - (g + b) / 2)

    moodboard = [Reference(ReferenceKind.PERSONAL, 1.0, image=_plain((230, 20, 30)))]
    personal = references_for(parse_prompt("a house --p")[0], {}, moodboard)
    assert redness(colour_backend.run(fast(*personal))) > redness(colour_backend.run(fast())) + 10


def test_style_codes_are_deterministic_styles(
    adapter_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    def run(code: str) -> np.ndarray:
        return _pixels(adapter_backend.run(fast(*_references(f"a house --sref {code}"))))

    first, again, other = run("123"), run("123"), run("456")
    plain = _pixels(adapter_backend.run(fast()))
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 2.0
    assert np.abs(first - plain).mean() > 2.0
    # `--sv` picks another mapping of codes to styles.
    assert np.abs(run("123 --sv 4") - first).mean() > 2.0


def test_style_tuner_codes_and_named_styles_act(
    adapter_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    one = StyleCode(5, 16, ((2, Side.A),)).encode()
    other_side = StyleCode(5, 16, ((2, Side.B),)).encode()

    def run(text: str) -> np.ndarray:
        return _pixels(adapter_backend.run(fast(*_references(f"a house {text}"))))

    first = run(f"--v 5.2 --style {one}")
    assert np.array_equal(first, run(f"--v 5.2 --style {one}"))
    assert np.abs(first - run(f"--v 5.2 --style {other_side}")).mean() > 2.0
    assert np.abs(first - run("--v 5.2")).mean() > 2.0
    assert np.abs(run("--niji 5 --style cute") - run("--niji 5 --style scenic")).mean() > 2.0
    # Joined codes blend their looks: one reference per look picked.
    assert len(_references(f"a house --v 5.2 --style {one}-{other_side}")) == 2


def test_weight_zero_is_no_reference(adapter_backend: Backend, fast: Callable[..., Recipe]) -> None:
    plain = _pixels(adapter_backend.run(fast()))
    for text in ("a house --sref 123 --sw 0", f"{RED} a house --iw 0", f"a house --sref {RED}::0"):
        references = _references(text, {RED: _plain((255, 0, 0))})
        assert references == ()
        assert np.array_equal(_pixels(adapter_backend.run(fast(*references))), plain)


def test_character_weight_crops_toward_the_face(
    adapter_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    def run(cw: int) -> np.ndarray:
        text = f"a house --cref {PORTRAIT} --cw {cw} --v 6"
        references = _references(text, {PORTRAIT: _portrait()})
        return _pixels(adapter_backend.run(fast(*references)))

    whole, face = run(100), run(0)
    assert np.abs(whole - face).mean() > 2.0
    assert np.array_equal(run(0), face)
    # The crop keeps 40% of each side, centred across and in the upper part of the picture.
    assert crop_box((100, 100), 0.4) == (30, 15, 70, 55)
    assert crop_box((100, 100), 1.0) == (0, 0, 100, 100)


def test_omni_and_personal_references_act(
    adapter_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    plain = adapter_backend.run(fast())
    omni = _references(f"a house --oref {RED} --ow 200", {RED: _plain((255, 0, 0))})
    assert [r.kind for r in omni] == [ReferenceKind.OMNI]
    assert _difference(adapter_backend.run(fast(*omni)), plain) > 2.0
    blue = [Reference(ReferenceKind.PERSONAL, 1.0, image=_plain((0, 0, 255)))]
    personal = references_for(parse_prompt("a house --p")[0], {}, blue)
    assert _difference(adapter_backend.run(fast(*personal)), plain) > 2.0
    # `--stylize` scales personalization: a different strength, a different picture.
    stronger = references_for(parse_prompt("a house --p --s 600")[0], {}, blue)
    assert (
        _difference(adapter_backend.run(fast(*stronger)), adapter_backend.run(fast(*personal)))
        > 0.5
    )


def test_references_act_on_variations_too(
    adapter_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    source = adapter_backend.run(fast(batch=1)).images[0]
    reference = Reference(ReferenceKind.IMAGE, 2.0, image=_plain((255, 0, 0)))
    vary = {"operation": "img2img", "init_image": _png(source), "strength": 0.8, "batch": 1}
    without = adapter_backend.run(fast(**vary))
    with_reference = adapter_backend.run(fast(reference, **vary))
    assert _difference(without, with_reference) > 1.0


def test_recipes_with_references_run_alone(
    adapter_backend: Backend, fast: Callable[..., Recipe]
) -> None:
    referenced = fast(Reference(ReferenceKind.STYLE, 1.0, code=7))
    assert adapter_backend.batch_key(referenced) is None
    # Without references a batch on the adapter model makes each job's pictures alone.
    members = [fast(seed=1), fast(seed=2, positive=(PromptPart("a red boat"),))]
    assert adapter_backend.batch_key(members[0]) == adapter_backend.batch_key(members[1])
    together = adapter_backend.run_batch([BatchMember(m) for m in members])
    for member, result in zip(members, together, strict=True):
        assert isinstance(result, EngineResult)
        alone = adapter_backend.run(member)
        assert np.abs(_pixels(result) - _pixels(alone)).max() <= 2


def test_the_simulated_gpu_refuses_an_adapter(model_cache: Path) -> None:
    with pytest.raises(OptionError, match="no model for an IP-Adapter"):
        load_backend("simulated-gpu:5", cache_dir=model_cache, ip_adapter="tiny")


def test_strength_grows_with_the_weight_and_saturates() -> None:
    values = [strength(w) for w in (0.0, 0.5, 1.0, 2.0, 3.0, 10.0)]
    assert values[0] == 0.0 and values[2] == pytest.approx(0.6)
    assert values == sorted(values) and values[-1] < 1.2


def test_style_layers_follow_instantstyle() -> None:
    def unet(up: list[bool], layers_per_block: int) -> SimpleNamespace:
        blocks = [SimpleNamespace(attentions=[]) if a else SimpleNamespace() for a in up]
        return SimpleNamespace(
            up_blocks=blocks, config=SimpleNamespace(layers_per_block=layers_per_block)
        )

    sdxl = unet([True, True, False], 2)
    assert style_layers(sdxl, 0.6) == {"up": {"block_0": [0.0, 0.6, 0.0]}}
    sd15 = unet([False, True, True, True], 2)
    assert style_layers(sd15, 0.6) == {"up": {"block_1": [0.0, 0.6, 0.0]}}


def test_adapter_settings_parse() -> None:
    sd15 = AdapterSource.parse("h94/IP-Adapter#models/ip-adapter_sd15.safetensors")
    assert (sd15.repo, sd15.subfolder, sd15.weight_name, sd15.image_encoder_folder) == (
        "h94/IP-Adapter",
        "models",
        "ip-adapter_sd15.safetensors",
        "image_encoder",
    )
    vit_h = AdapterSource.parse(
        "h94/IP-Adapter#sdxl_models/ip-adapter_sdxl_vit-h.safetensors#models/image_encoder"
    )
    assert vit_h.image_encoder_folder == "models/image_encoder"
    local = AdapterSource.parse("/models/ipa")
    assert (local.subfolder, local.weight_name) == ("", "ip-adapter.safetensors")
    with pytest.raises(AdapterError, match=r"must be a \.safetensors or \.bin file"):
        AdapterSource.parse("h94/IP-Adapter#models")
