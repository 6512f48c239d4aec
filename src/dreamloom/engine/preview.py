"""Cheap progress previews: latents to RGB by a fixed linear map, no VAE decode.

A VAE decode of a 4-image batch costs about as much as a denoising step on a GPU and far more
on a CPU; a 4x3 matrix product costs nothing, at the price of a blurry, latent-resolution image.
"""

from __future__ import annotations

import torch
from PIL import Image

from dreamloom.engine.grid import make_grid

# Least-squares fit of SD 1.x/2.x latents (as the sampler sees them, i.e. scaled) to RGB in
# [-1, 1], as used by several open UIs. Other 4-channel models get a recognisable approximation.
SD_LATENT_RGB = torch.tensor(
    [
        [0.298, 0.207, 0.208],
        [0.187, 0.286, 0.173],
        [-0.158, 0.189, 0.264],
        [-0.184, -0.271, -0.473],
    ]
)


def latents_to_rgb(latents: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) latents -> (B, h, w, 3) uint8."""
    x = latents.detach().float().cpu()
    if x.shape[1] == SD_LATENT_RGB.shape[0]:
        rgb = torch.einsum("bchw,cr->bhwr", x, SD_LATENT_RGB)
    else:
        # Unknown latent space: show the first channels as a false-colour picture.
        channels = x[:, :3].repeat(1, 3, 1, 1)[:, :3]
        rgb = channels.permute(0, 2, 3, 1) / 2
    return ((rgb + 1) * 127.5).clamp(0, 255).round().to(torch.uint8)


def preview_image(latents: torch.Tensor) -> Image.Image:
    """A grid of the batch at latent resolution (64x64 per image for a 512 px model)."""
    pixels = latents_to_rgb(latents).numpy()
    return make_grid([Image.fromarray(frame, "RGB") for frame in pixels])
