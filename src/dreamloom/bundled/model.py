"""The bundled model's networks: a small pixel-space diffusers UNet and an image encoder.

The generator works on 32 px pictures folded 4x4 into channels (pixel unshuffle: 48 x 8 x 8),
which cuts the positions the convolutions visit sixteenfold; no VAE is needed at this size.
That fold is what makes training fit one CPU core in about an hour and a half. The image
encoder is a plain convolutional net that maps a picture into the text encoder's sentence space.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from dreamloom.bundled.text import MAX_TOKENS, TEXT_DIM

IMAGE_SIDE = 32
FOLD = 4  # pixel-unshuffle factor between pictures and the UNet's sample
# Sides must be multiples of this: the fold times the UNet's one downsampling.
SIDE_MULTIPLE = FOLD * 2


def unet_config() -> dict[str, Any]:
    return {
        "sample_size": IMAGE_SIDE // FOLD,
        "in_channels": 3 * FOLD * FOLD,
        "out_channels": 3 * FOLD * FOLD,
        "block_out_channels": (96, 192),
        "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        "layers_per_block": 1,
        "cross_attention_dim": TEXT_DIM,
        "attention_head_dim": 32,
        "norm_num_groups": 32,
    }


def build_unet() -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**unet_config())


def fold(images: torch.Tensor) -> torch.Tensor:
    return F.pixel_unshuffle(images, FOLD)


def unfold(sample: torch.Tensor) -> torch.Tensor:
    return F.pixel_shuffle(sample, FOLD)


def predict_clean(
    unet: Any, images: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The clean picture predicted from noisy `images` at flow times `t` (0 clean, 1 noise).

    The network predicts the picture itself, not the noise or the velocity: a 4x4 patch folded
    into 48 channels is high-dimensional, and there a small network trained briefly learns the
    clean picture (which lies on a low-dimensional manifold) far sooner than it learns the
    noise; noise or velocity prediction left visible noise in every sample.
    """
    out = unet(
        fold(images), t * 1000.0, encoder_hidden_states=cond, encoder_attention_mask=mask
    ).sample
    return unfold(out)


class ImageEncoder(nn.Module):  # type: ignore[misc]
    """32 px picture in [-1, 1] -> unit vector in the MiniLM sentence space."""

    def __init__(self, width: int = 32, dim: int = TEXT_DIM) -> None:
        super().__init__()
        chans = [width, width * 2, width * 4, width * 6]
        layers: list[nn.Module] = [nn.Conv2d(3, chans[0], 3, padding=1), nn.SiLU()]
        for cin, cout in itertools.pairwise(chans):
            layers += [
                nn.Conv2d(cin, cout, 3, stride=2, padding=1),
                nn.GroupNorm(8, cout),
                nn.SiLU(),
                nn.Conv2d(cout, cout, 3, padding=1),
                nn.GroupNorm(8, cout),
                nn.SiLU(),
            ]
        self.features = nn.Sequential(*layers)
        self.project = nn.Linear(chans[-1] * 2, dim)
        # CLIP-style learned temperature, starting at 1/0.07.
        self.logit_scale = nn.Parameter(torch.tensor(2.659))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != IMAGE_SIDE or images.shape[-2] != IMAGE_SIDE:
            images = F.interpolate(images, size=(IMAGE_SIDE, IMAGE_SIDE), mode="area")
        feats = self.features(images)
        pooled = torch.cat([feats.mean(dim=(2, 3)), feats.amax(dim=(2, 3))], dim=1)
        return F.normalize(self.project(pooled), dim=-1)


__all__ = ["MAX_TOKENS", "ImageEncoder", "build_unet", "predict_clean", "unet_config"]
