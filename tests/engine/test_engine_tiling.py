"""Circular padding makes the model equivariant to wrap-around shifts: the precise property
behind seamless tiles."""

from __future__ import annotations

import numpy as np
import torch

from dreamloom.engine import Backend
from dreamloom.engine.backends.diffusers import DiffusersBackend
from dreamloom.engine.tiling import circular_padding


def _decode(backend: DiffusersBackend, latents: torch.Tensor) -> np.ndarray:
    output = backend.pipeline(
        prompt="a tiled floor",
        latents=latents,
        num_inference_steps=2,
        guidance_scale=5.0,
        output_type="np",
    )
    return np.asarray(output.images)


def test_circular_padding_makes_the_pipeline_shift_equivariant(tiny_backend: Backend) -> None:
    assert isinstance(tiny_backend, DiffusersBackend)
    pipe = tiny_backend.pipeline
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    shifted = latents.roll(2, dims=-1)  # two latent cells = 16 pixels
    with circular_padding([pipe.unet, pipe.vae]) as switched:
        assert switched > 10
        image = _decode(tiny_backend, latents)
        image_shifted = _decode(tiny_backend, shifted)
    assert np.abs(np.roll(image, 16, axis=2) - image_shifted).max() < 1e-3
    # Zero padding (restored after the block) breaks the equivariance at the borders.
    plain, plain_shifted = _decode(tiny_backend, latents), _decode(tiny_backend, shifted)
    assert np.abs(np.roll(plain, 16, axis=2) - plain_shifted).max() > 1e-2


def test_circular_padding_is_restored_after_an_error(tiny_backend: Backend) -> None:
    assert isinstance(tiny_backend, DiffusersBackend)
    convs = [m for m in tiny_backend.pipeline.unet.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with circular_padding([tiny_backend.pipeline.unet]):
            assert {c.padding_mode for c in convs} == {"circular"}
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert {c.padding_mode for c in convs} == {"zeros"}
