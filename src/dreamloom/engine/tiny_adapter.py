"""A tiny IP-Adapter for the tiny pipeline, built in code and saved the way the real ones are.

The folder has the layout of the h94/IP-Adapter repository: the adapter's weights at its root
(`ip-adapter.safetensors`, IP-Adapter's own key names) and a CLIP image encoder in
`image_encoder/` (`CLIPVisionModelWithProjection.save_pretrained`), so diffusers'
`load_ip_adapter` reads it exactly as it reads a downloaded adapter.

Random weights would make an image prompt change the picture in no particular direction, and
nothing a user expects of one could be checked. So the random adapter is then fitted, for a
few seconds, to the one thing an untrained pipeline can be taught that fast: the picture it
makes takes on the mean colour of the reference picture, through every layer (image prompts)
and through the style layers alone (style references, personalization). The image encoder and
the UNet stay random and frozen, as a real adapter is trained on a frozen base model and
encoder. On the faithful-VAE pipeline (whose pictures are its latents) red, green and blue image
prompts pull the picture toward their colour, more with a larger `--iw`; through the style layers
alone, reds and greens carry well and blues only weakly (one small up block holds them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TINY_ADAPTER_VERSION = 1
TINY_ADAPTER_WEIGHTS = "ip-adapter.safetensors"
TINY_IMAGE_EMBED = 32  # the image encoder's projection size
_TOKENS = 4  # image tokens per picture, as in IP-Adapter (not Plus)
_IMAGE_SIDE = 32
# The fit: steps, pictures per step, and the settings of the runs it imitates (the tests').
FIT_STEPS = 100
FIT_BATCH = 8
FIT_SAMPLING_STEPS = 2
FIT_GUIDANCE = 7.5
FIT_SCALE = 1.2
_FIT_TEXTS = ("a lighthouse on a cliff at dusk", "a house", "")
# CLIP's pixel normalisation (what `CLIPImageProcessor` applies).
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def tiny_image_encoder() -> Any:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=4,
        num_hidden_layers=2,
        image_size=_IMAGE_SIDE,
        patch_size=8,
        projection_dim=TINY_IMAGE_EMBED,
    )
    return CLIPVisionModelWithProjection(config).eval()


def random_adapter_state(unet: Any, seed: int = 0) -> dict[str, Any]:
    """Random IP-Adapter weights for `unet`, as a flat state dict under IP-Adapter's key names:
    `image_proj.proj.*`, `image_proj.norm.*` (one image embedding to 4 tokens of the UNet's
    cross-attention width) and `ip_adapter.{n}.to_k_ip.weight` / `to_v_ip.weight`, numbered as
    IP-Adapter numbers the UNet's attention processors (1, 3, 5, ...: the cross-attentions)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cross = int(unet.config.cross_attention_dim)
    channels = list(unet.config.block_out_channels)

    def randn(*shape: int, scale: float) -> Any:
        return torch.randn(shape, generator=generator) * scale

    state: dict[str, Any] = {
        "image_proj.proj.weight": randn(_TOKENS * cross, TINY_IMAGE_EMBED, scale=0.3),
        "image_proj.proj.bias": torch.zeros(_TOKENS * cross),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue  # self-attention: no image tokens
        where = name.split(".")
        if where[0] == "mid_block":
            hidden = channels[-1]
        elif where[0] == "up_blocks":
            hidden = list(reversed(channels))[int(where[1])]
        else:
            hidden = channels[int(where[1])]
        for part in ("to_k_ip", "to_v_ip"):
            state[f"ip_adapter.{key}.{part}.weight"] = randn(hidden, cross, scale=cross**-0.5)
        key += 2
    return state


@contextmanager
def _one_thread() -> Iterator[None]:
    # The fit's sums come out the same on every machine with one thread, and the tiny model
    # gains nothing from more.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_colour(pipeline: Any, seed: int = 0) -> None:
    """Fit the IP-Adapter loaded in `pipeline` (a tiny pipeline with the faithful VAE, whose
    latents are the picture) so that pictures take on the image prompt's mean colour.

    Each step draws plain pictures of random colours, samples from noise as the pipeline does
    (Euler, classifier-free guidance with a zero image embedding on the unconditional side) and
    moves the adapter's weights to bring the result's mean colour to the picture's."""
    import torch

    unet, encoder = pipeline.unet, pipeline.image_encoder
    trained = [*unet.encoder_hid_proj.parameters()]
    for processor in unet.attn_processors.values():
        if hasattr(processor, "to_k_ip"):
            trained += [*processor.parameters()]
    for parameter in unet.parameters():
        parameter.requires_grad_(False)
    for parameter in trained:
        parameter.requires_grad_(True)
    from dreamloom.engine.backends.ip_adapter import style_layers

    # Every other step in the style layers alone, as `--sref` and `--p` use the adapter.
    scales = [FIT_SCALE, style_layers(unet, FIT_SCALE)]
    with torch.no_grad():
        texts = [pipeline.encode_prompt([t], "cpu", 1, True) for t in _FIT_TEXTS]
    scheduler = pipeline.scheduler
    scheduler.set_timesteps(FIT_SAMPLING_STEPS)
    sigmas = scheduler.sigmas
    mean = torch.tensor(_CLIP_MEAN)[:, None, None]
    std = torch.tensor(_CLIP_STD)[:, None, None]
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(trained, lr=1e-2)
    side = int(unet.config.sample_size)
    for step in range(FIT_STEPS):
        pipeline.set_ip_adapter_scale(scales[step % 2])
        colours = torch.rand(FIT_BATCH, 3, generator=generator)
        # Half of them saturated (one channel high, one low): plain uniform draws seldom reach
        # the corners of the colour cube, where the colours people name are.
        half = FIT_BATCH // 2
        order = torch.argsort(torch.rand(half, 3, generator=generator), dim=1)
        colours[:half].scatter_(1, order[:, :1], 1.0)
        colours[:half].scatter_(1, order[:, 1:2], 0.0)
        pictures = colours[:, :, None, None].expand(-1, -1, _IMAGE_SIDE, _IMAGE_SIDE)
        with torch.no_grad():
            embeds = encoder((pictures - mean) / std).image_embeds
        text, unconditional = texts[int(torch.randint(len(texts), (1,), generator=generator))]
        latents = torch.randn(FIT_BATCH, 4, side, side, generator=generator) * sigmas[0]
        image = torch.cat([torch.zeros_like(embeds), embeds])[:, None]
        words = torch.cat([unconditional, text]).repeat_interleave(FIT_BATCH, 0)
        for index, timestep in enumerate(scheduler.timesteps):
            sigma = sigmas[index]
            model_input = torch.cat([latents, latents]) / (sigma**2 + 1) ** 0.5
            noise = unet(
                model_input,
                timestep,
                encoder_hidden_states=words,
                added_cond_kwargs={"image_embeds": [image]},
            ).sample
            plain, conditioned = noise.chunk(2)
            noise = plain + FIT_GUIDANCE * (conditioned - plain)
            latents = latents + (sigmas[index + 1] - sigma) * noise
        # The faithful VAE's latents are the picture in [-1, 1] in channels 0-2.
        loss = ((latents[:, :3].mean((2, 3)) - (2 * colours - 1)) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    for parameter in trained:
        parameter.requires_grad_(False)


def fitted_adapter_state(pipeline: Any) -> dict[str, Any]:
    """The loaded adapter's weights back under IP-Adapter's key names (the first adapter)."""
    projection = pipeline.unet.encoder_hid_proj.image_projection_layers[0]
    state = {
        "image_proj.proj.weight": projection.image_embeds.weight,
        "image_proj.proj.bias": projection.image_embeds.bias,
        "image_proj.norm.weight": projection.norm.weight,
        "image_proj.norm.bias": projection.norm.bias,
    }
    key = 1
    for processor in pipeline.unet.attn_processors.values():
        if hasattr(processor, "to_k_ip"):
            state[f"ip_adapter.{key}.to_k_ip.weight"] = processor.to_k_ip[0].weight
            state[f"ip_adapter.{key}.to_v_ip.weight"] = processor.to_v_ip[0].weight
            key += 2
    return {name: value.detach().clone().contiguous() for name, value in state.items()}


def build_tiny_ip_adapter(seed: int = 0) -> tuple[dict[str, Any], Any]:
    """(adapter weights, image encoder) for the tiny pipeline's UNet: random, then fitted."""
    import torch
    from transformers import CLIPImageProcessor

    from dreamloom.engine.tiny import build_tiny_pipeline

    with _one_thread():
        pipeline = build_tiny_pipeline(0, faithful_vae=True)
        torch.manual_seed(seed + 1)
        encoder = tiny_image_encoder()
        state = random_adapter_state(pipeline.unet, seed)
        split: dict[str, dict[str, Any]] = {"image_proj": {}, "ip_adapter": {}}
        for name, value in state.items():
            group, _, rest = name.partition(".")
            split[group][rest] = value
        pipeline.register_modules(
            image_encoder=encoder,
            feature_extractor=CLIPImageProcessor(size=_IMAGE_SIDE, crop_size=_IMAGE_SIDE),
        )
        pipeline.load_ip_adapter(split, subfolder="", weight_name="")
        fit_colour(pipeline, seed)
        return fitted_adapter_state(pipeline), encoder


def ensure_tiny_ip_adapter(cache_dir: Path, seed: int = 0) -> Path:
    """Build the tiny IP-Adapter under `cache_dir` once (a few seconds) and return its folder
    (load it with the setting ``ip_adapter=str(folder)``, or ``ip_adapter="tiny"``). Built in
    a temporary sibling and renamed into place, as `tiny.ensure_tiny_model` does."""
    from safetensors.torch import save_file

    target = Path(cache_dir) / f"tiny-ip-adapter-v{TINY_ADAPTER_VERSION}-seed{seed}"
    if (target / TINY_ADAPTER_WEIGHTS).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        state, encoder = build_tiny_ip_adapter(seed)
        encoder.save_pretrained(staging / "image_encoder")
        save_file(state, str(staging / TINY_ADAPTER_WEIGHTS))
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / TINY_ADAPTER_WEIGHTS).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
