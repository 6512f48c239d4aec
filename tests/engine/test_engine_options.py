"""The speed options (engine.options) on the tiny pipeline: each one acts, the defaults leave
the model as diffusers loads it, and the pictures stay what they were within a level or two."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dreamloom.engine import Backend, EngineResult, Recipe, load_backend
from dreamloom.engine.backends.diffusers import DiffusersBackend
from dreamloom.engine.images import png_bytes
from dreamloom.engine.models import model_info
from dreamloom.engine.operations import recipe_for_variation
from dreamloom.engine.options import (
    Attention,
    CompileMode,
    EngineOptions,
    OptionError,
    apply_options,
    compile_prerequisites,
)

# The largest difference in any pixel channel (0-255) an option that is not meant to change
# the picture may make: float arithmetic in another order. Measured: 1 on this model.
CLOSE = 2


def _pixels(result: EngineResult) -> np.ndarray:
    return np.stack([np.asarray(image, dtype=np.int16) for image in result.images])


def _max_difference(a: EngineResult, b: EngineResult) -> int:
    return int(np.abs(_pixels(a) - _pixels(b)).max())


def _load(model_cache: Path, **options: Any) -> DiffusersBackend:
    backend = load_backend("tiny", cache_dir=model_cache, options=EngineOptions(**options))
    assert isinstance(backend, DiffusersBackend)
    return backend


def _modules(backend: DiffusersBackend) -> tuple[Any, Any]:
    return backend.pipeline.unet, backend.pipeline.vae


def _processor_types(module: Any) -> set[str]:
    return {type(p).__name__ for p in module.attn_processors.values()}


def _convolution_weights(module: Any) -> list[torch.Tensor]:
    return [p for p in module.parameters() if p.ndim == 4]


def _needs_compiler() -> None:
    """torch.compile on a CPU builds C++ kernels. CI installs the compiler and Python's headers
    (.ci/run), so there it must run; elsewhere a missing one skips, saying what to install."""
    missing = compile_prerequisites("cpu")
    if missing and os.environ.get("CI") != "true":
        pytest.skip(f"torch.compile needs {missing}")


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    # Compiled code is cached per function (UNet2DConditionModel.forward), across instances:
    # each test starts and ends with none, so no test runs on another's recompile budget.
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_default_options_leave_the_pipeline_as_loaded(tiny_backend: Backend) -> None:
    assert isinstance(tiny_backend, DiffusersBackend)
    unet, vae = _modules(tiny_backend)
    assert EngineOptions().is_default and EngineOptions().describe() == "as loaded"
    # diffusers' own choice on torch 2: scaled_dot_product_attention everywhere.
    assert _processor_types(unet) == _processor_types(vae) == {"AttnProcessor2_0"}
    for module in (unet, vae):
        assert all(w.is_contiguous() for w in _convolution_weights(module))
        assert all(getattr(m, "_compiled_call_impl", None) is None for m in module.modules())


def test_channels_last_lays_out_every_convolution_of_unet_and_vae(
    model_cache: Path, tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    backend = _load(model_cache, channels_last=True)
    for module in _modules(backend):
        weights = _convolution_weights(module)
        assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
        # 1x1 kernels are both layouts at once; the 3x3 ones were really moved.
        assert any(not w.is_contiguous() for w in weights)
    assert _max_difference(backend.run(recipe()), tiny_backend.run(recipe())) <= CLOSE


def test_classic_attention_replaces_the_processors_of_unet_and_vae(
    model_cache: Path, tiny_backend: Backend, recipe: Callable[..., Recipe]
) -> None:
    backend = _load(model_cache, attention="classic")
    unet, vae = _modules(backend)
    assert _processor_types(unet) == _processor_types(vae) == {"AttnProcessor"}
    assert _max_difference(backend.run(recipe()), tiny_backend.run(recipe())) <= CLOSE


def test_an_option_that_cannot_act_is_refused() -> None:
    from diffusers import FluxTransformer2DModel

    flux = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=(4, 4, 8),
    )
    # FLUX's joint attention has no classic processor in diffusers.
    with pytest.raises(OptionError, match="classic"):
        apply_options(EngineOptions(attention=Attention.CLASSIC), flux)
    # A transformer alone has no convolution to lay out.
    with pytest.raises(OptionError, match="no convolutions"):
        apply_options(EngineOptions(channels_last=True), flux)
    assert _processor_types(flux) == {"FluxAttnProcessor"}  # left as it was
    # CUDA graphs off CUDA would quietly be the default mode.
    with pytest.raises(OptionError, match="CUDA graphs"):
        apply_options(EngineOptions(compile=True, compile_mode=CompileMode.REDUCE_OVERHEAD), flux)
    with pytest.raises(OptionError, match="needs compile"):
        EngineOptions(compile_mode=CompileMode.MAX_AUTOTUNE)
    with pytest.raises(ValueError):
        EngineOptions(attention="flash")  # type: ignore[arg-type]


def test_compile_is_refused_plainly_without_a_compiler(
    monkeypatch: pytest.MonkeyPatch, model_cache: Path
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.delenv("CC", raising=False)
    assert "C++ compiler" in compile_prerequisites("cpu")
    assert "C compiler" in compile_prerequisites("cuda")
    with pytest.raises(OptionError, match="cannot run on this machine"):
        _load(model_cache, compile=True)


def test_compile_compiles_the_unet_and_vae_decoder_in_place_with_the_mode(
    monkeypatch: pytest.MonkeyPatch, model_cache: Path
) -> None:
    _needs_compiler()
    modes: list[str | None] = []
    real_compile = torch.compile

    def compile_spy(model: Any, **kwargs: Any) -> Any:
        modes.append(kwargs.get("mode"))
        return real_compile(model, **kwargs)

    monkeypatch.setattr(torch, "compile", compile_spy)
    mode = CompileMode.MAX_AUTOTUNE_NO_CUDAGRAPHS
    backend = _load(model_cache, compile=True, compile_mode=mode)
    unet, vae = _modules(backend)
    assert modes == [mode.value, mode.value]
    # In place: the pipeline keeps its UNet (class, config), now with a compiled call.
    assert type(unet).__name__ == "UNet2DConditionModel"
    assert unet._compiled_call_impl is not None
    assert vae.decoder._compiled_call_impl is not None
    assert vae._compiled_call_impl is None and vae.encoder._compiled_call_impl is None
    # The img2img and inpainting pipelines share the very modules.
    for kind in ("img2img", "inpaint"):
        derived = backend._derived_pipeline(kind)
        assert derived.unet is unet and derived.vae.decoder is vae.decoder


def test_compiled_runs_take_every_path_the_engine_takes(
    monkeypatch: pytest.MonkeyPatch,
    model_cache: Path,
    tiny_backend: Backend,
    recipe: Callable[..., Recipe],
    fresh_dynamo: None,
) -> None:
    """Imagine, `--tile` (its padding switch changes what the compiled code was traced
    with) and img2img through the shared modules, traced by TorchDynamo. The "eager" backend
    runs the traced graphs as they are, so the pixels must be identical; generating kernels
    (the next test) is torch's part."""
    _needs_compiler()
    graphs: list[str] = []
    real_compile = torch.compile

    def traced(model: Any, **kwargs: Any) -> Any:
        def backend(graph: Any, example_inputs: Any) -> Any:
            graphs.append(type(model.__self__).__name__)
            return graph.forward

        return real_compile(model, backend=backend)

    monkeypatch.setattr(torch, "compile", traced)
    compiled = _load(model_cache, compile=True)
    for changes in ({}, {"tile": True}, {}):
        before = len(graphs)
        assert (
            _max_difference(compiled.run(recipe(**changes)), tiny_backend.run(recipe(**changes)))
            == 0
        )
        if changes:
            assert len(graphs) > before  # traced again with circular padding
    assert {"UNet2DConditionModel", "Decoder"} <= set(graphs)
    assert isinstance(tiny_backend, DiffusersBackend)
    source = png_bytes(tiny_backend.run(recipe()).images[0])
    variation = recipe_for_variation(
        recipe(), source, strong=False, seed=9, info=model_info("tiny")
    )
    assert _max_difference(compiled.run(variation), tiny_backend.run(variation)) == 0


@pytest.mark.slow
@pytest.mark.timeout(900)  # compiling from an empty cache on a slow machine
def test_a_compiled_grid_stays_close_to_the_eager_one(
    model_cache: Path,
    tiny_backend: Backend,
    recipe: Callable[..., Recipe],
    fresh_dynamo: None,
) -> None:
    """The real thing, inductor's kernels: about a minute of compiling on a 2-core CPU with
    an empty cache (torch keeps it in /tmp/torchinductor_$USER), seconds with a warm one."""
    _needs_compiler()
    compiled = _load(model_cache, compile=True)
    short = recipe(steps=2)
    assert _max_difference(compiled.run(short), tiny_backend.run(short)) <= CLOSE
