"""Randomly initialised Stable Diffusion pipelines built in code: no download, no weights file.

The tiny one (64 px, a few hundred thousand parameters) makes noise-like pictures in well under
a second on a CPU, through every real code path: it is saved with `save_pretrained` and loaded
back with `DiffusionPipeline.from_pretrained` like any hub model. Tests and the plumbing of a
fresh installation use it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

TINY_NAME = "tiny"
# Bump when the architecture below changes, so stale caches are not loaded into a new layout.
TINY_VERSION = 1
TINY_NATIVE = 64
TINY_STEPS = 8
TINY_GUIDANCE = 7.5
# Defaults a local model folder can carry for `model_info` (read without loading weights).
DEFAULTS_FILE = "dreamloom.json"

_BOS = "<|startoftext|>"
_EOS = "<|endoftext|>"


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2/CLIP convention)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def _tiny_tokenizer() -> Any:
    """A CLIP tokenizer over single bytes only (no merges): every text tokenises, nothing is
    downloaded. Written to files first because that is the one constructor every supported
    transformers version shares."""
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab = {symbol: i for i, symbol in enumerate(symbols)}
    vocab.update({symbol + "</w>": len(symbols) + i for i, symbol in enumerate(symbols)})
    vocab[_BOS] = len(vocab)
    vocab[_EOS] = len(vocab)
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        Path(folder, "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        return CLIPTokenizer.from_pretrained(folder, model_max_length=77)


def _text_encoder(tokenizer: Any, hidden: int, layers: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_attention_heads=hidden // 64 if hidden >= 256 else 4,
        num_hidden_layers=layers,
        max_position_embeddings=77,
        bos_token_id=tokenizer.convert_tokens_to_ids(_BOS),
        eos_token_id=tokenizer.convert_tokens_to_ids(_EOS),
        pad_token_id=tokenizer.convert_tokens_to_ids(_EOS),
        projection_dim=hidden,
    )
    return CLIPTextModel(config).eval()


def _scheduler(**overrides: Any) -> Any:
    from diffusers import EulerDiscreteScheduler

    # Stable Diffusion's training schedule; Euler returns its x0 estimate at every step, which
    # `--stop` and the previews use.
    config: dict[str, Any] = {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "prediction_type": "epsilon",
        "timestep_spacing": "leading",
        "steps_offset": 1,
    }
    config.update(overrides)
    return EulerDiscreteScheduler(**config)


def faithful_tiny_vae() -> Any:
    """A VAE whose round trip keeps the picture: latents are the picture itself, averaged over
    8x8 blocks, in channels 0-2 (channel 3 is unused).

    A random VAE decodes to texture that ignores its input, so nothing said about pictures in
    and out of img2img or inpainting (a subtle variation stays closer to its source than a
    strong one) could be checked with it. `AutoencoderTiny` without residual blocks is a
    chain of convolutions, so it can be set by hand: the encoder averages 2x2 blocks three
    times; the decoder repeats pixels back. Its ReLU after the first decoder convolution is
    kept off by an offset of 4; the decoder's input clamp, tanh(x / 3) * 3, is the remaining
    non-linearity (it takes up to 4% off the contrast at the extremes).
    """
    import torch
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny(
        encoder_block_out_channels=(4, 4, 4, 4),
        decoder_block_out_channels=(4, 4, 4, 4),
        num_encoder_blocks=(0, 0, 0, 0),
        num_decoder_blocks=(0, 0, 0, 0),
        latent_channels=4,
    )
    rgb = range(3)
    centre = torch.zeros(3, 3)
    centre[1, 1] = 1.0
    box = torch.zeros(3, 3)
    box[1:, 1:] = 0.25  # stride 2, padding 1: taps 1 and 2 are pixels 2i and 2i+1
    offset = 4.0
    with torch.no_grad():
        for conv in (*vae.encoder.layers, *vae.decoder.layers):
            if isinstance(conv, torch.nn.Conv2d):
                conv.weight.zero_()
                if conv.bias is not None:
                    conv.bias.zero_()
        encoder = [m for m in vae.encoder.layers if isinstance(m, torch.nn.Conv2d)]
        decoder = [m for m in vae.decoder.layers if isinstance(m, torch.nn.Conv2d)]
        for c in rgb:
            # The encoder sees pixels in [0, 1]; latents are pixels in [-1, 1].
            encoder[0].weight[c, c] = centre
            for down in encoder[1:-1]:
                down.weight[c, c] = box
            encoder[-1].weight[c, c] = 2 * centre
            encoder[-1].bias[c] = -1.0
            # The decoder must output [0, 1] (it maps that to [-1, 1] itself).
            decoder[0].weight[c, c] = centre
            decoder[0].bias[c] = offset
            for same in decoder[1:-1]:
                same.weight[c, c] = centre
            decoder[-1].weight[c, c] = 0.5 * centre
            decoder[-1].bias[c] = (1.0 - offset) / 2
    return vae.eval()


def build_tiny_pipeline(seed: int = 0, *, faithful_vae: bool = False) -> Any:
    """A real `StableDiffusionPipeline` with tiny random weights (64 px, 8x8x4 latents).

    `faithful_vae` swaps the random VAE for `faithful_tiny_vae` (tests of picture operations).
    """
    import torch
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(seed)  # the weights are the model: same seed, same model
    tokenizer = _tiny_tokenizer()
    text_encoder = _text_encoder(tokenizer, hidden=32, layers=2)
    unet = UNet2DConditionModel(
        sample_size=TINY_NATIVE // 8,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    # Four levels, like the real VAE, so a latent cell is 8x8 pixels as in real models.
    vae = AutoencoderKL(
        block_out_channels=(8, 16, 16, 16),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=8,
        layers_per_block=1,
        sample_size=TINY_NATIVE,
    )
    return StableDiffusionPipeline(
        vae=faithful_tiny_vae() if faithful_vae else vae.eval(),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet.eval(),
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def ensure_tiny_model(cache_dir: Path, seed: int = 0) -> Path:
    """Save the tiny pipeline under `cache_dir` once and return its folder.

    Built in a temporary sibling folder and renamed into place, so concurrent workers never see
    half a model; a loser of the race throws its copy away.
    """
    target = Path(cache_dir) / f"{TINY_NAME}-v{TINY_VERSION}-seed{seed}"
    if (target / "model_index.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        from transformers.utils import logging as transformers_logging

        # Saving shows a "Writing model shards" bar, and advice about optional packages, in
        # the middle of the CLI's own output (as loading would; see DiffusersBackend).
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        build_tiny_pipeline(seed).save_pretrained(staging)
        defaults = {"default_steps": TINY_STEPS, "default_guidance": TINY_GUIDANCE}
        (staging / DEFAULTS_FILE).write_text(json.dumps(defaults), encoding="utf-8")
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / "model_index.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def build_sd_turbo_sized_pipeline(seed: int = 0, full_vae: bool = True) -> Any:
    """Random weights in SD-Turbo's shapes (the SD 2.1 UNet at 512 px), for benchmarks.

    The UNet is the real size (about 866M parameters: 3.5 GB in float32, 1.7 GB in float16),
    so denoising costs what SD-Turbo costs. The text encoder is cut to one layer of SD 2's
    width (1024, as the UNet's cross-attention expects) to save 1.4 GB of RAM; text encoding
    is a small share of a run. `full_vae` keeps the real VAE decoder size (about 84M
    parameters) so decode time is realistic; set it False to save RAM and time.
    Building takes tens of seconds on a CPU (random initialisation of the UNet).
    """
    import torch
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    tokenizer = _tiny_tokenizer()
    text_encoder = _text_encoder(tokenizer, hidden=1024, layers=1)
    unet = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=(
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        up_block_types=(
            "UpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
            "CrossAttnUpBlock2D",
        ),
        cross_attention_dim=1024,
        attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True,
    )
    channels = (128, 256, 512, 512) if full_vae else (32, 64, 64, 64)
    vae = AutoencoderKL(
        block_out_channels=channels,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
    )
    return StableDiffusionPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet.eval(),
        # SD-Turbo's own scheduler settings: trailing spacing so one step starts at pure noise.
        scheduler=_scheduler(timestep_spacing="trailing"),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
