"""The engine's speed options act on the bundled model's UNet too (nothing accepted is ignored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dreamloom.engine import load_backend, model_info, recipe_for_imagine
from dreamloom.engine.backends.bundled import BundledBackend
from dreamloom.engine.options import Attention, EngineOptions
from dreamloom.prompt import parse_prompt


def test_channels_last_and_classic_attention_act_on_the_bundled_unet(tmp_path: Path) -> None:
    options = EngineOptions(channels_last=True, attention=Attention.CLASSIC)
    backend = load_backend("bundled", cache_dir=tmp_path, options=options)
    plain = load_backend("bundled", cache_dir=tmp_path)
    assert isinstance(backend, BundledBackend) and isinstance(plain, BundledBackend)
    unet = backend.model.unet
    assert {type(p).__name__ for p in unet.attn_processors.values()} == {"AttnProcessor"}
    weights = [p for p in unet.parameters() if p.ndim == 4]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    assert any(not w.is_contiguous() for w in weights)
    assert {type(p).__name__ for p in plain.model.unet.attn_processors.values()} == {
        "AttnProcessor2_0"
    }
    # The same pictures, to float rounding, which Real-ESRGAN's 8x upscale enlarges in a few
    # pixels (measured: mean 0.012, largest 4 levels of 255).
    recipe = recipe_for_imagine(parse_prompt("a red fox --seed 3")[0], model_info("bundled"), 3)
    a = np.stack([np.asarray(i, dtype=np.int16) for i in backend.run(recipe).images])
    b = np.stack([np.asarray(i, dtype=np.int16) for i in plain.run(recipe).images])
    assert np.abs(a - b).mean() < 0.1 and np.abs(a - b).max() <= 8
