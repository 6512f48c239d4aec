"""Image references on diffusers models, through IP-Adapter image embeddings.

An IP-Adapter adds a second cross-attention to every cross-attention layer of the UNet, over a
few tokens projected from a CLIP image embedding; its scale says how much that attention adds.
diffusers loads one with `pipeline.load_ip_adapter` and takes precomputed embeddings through
the pipeline's `ip_adapter_image_embeds` argument; this module computes those embeddings from a
recipe's references (`engine.conditioning`) and sets the scales.

The same adapter weights are loaded twice, as two adapters, because diffusers gives each
adapter one scale per attention layer but mixes the pictures given to one adapter with one
scale: the CONTENT adapter (image prompts, `--cref`, `--oref`) acts at every layer; the STYLE
adapter (`--sref`, `--p`) acts only in the style layers InstantStyle found (the cross-attention
of the first up block at the coarsest resolution), so a style reference gives its look without
its content. An adapter without references gets scale 0, which diffusers skips exactly: a
recipe without references makes the same pixels as on the model without an adapter.

The setting names the adapter as ``repo_or_path[#subfolder/weight_name[#image_encoder_folder]]``:
- ``h94/IP-Adapter#models/ip-adapter_sd15.safetensors`` (SD 1.5; its encoder is in
  ``models/image_encoder``, found by default next to the weights),
- ``h94/IP-Adapter#sdxl_models/ip-adapter_sdxl.safetensors`` (SDXL),
- ``h94/IP-Adapter#sdxl_models/ip-adapter_sdxl_vit-h.safetensors#models/image_encoder``
  (an adapter whose encoder lives elsewhere in the repository),
- a local folder laid out the same way (``/models/ipa#ip-adapter.safetensors``); without a
  ``#`` the weights are ``ip-adapter.safetensors`` at the folder's root,
- ``tiny``: the tiny adapter for the tiny pipeline, built in code (`engine.tiny_adapter`).
Only IP-Adapter and IP-Adapter Plus style weights for UNet pipelines (SD 1.x/2.x, SDXL) load
this way; FLUX and SD3 have other adapter families.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from dreamloom.engine.conditioning import (
    EmbeddingStats,
    Group,
    grouped,
    mean_weight,
    mix,
    probe_pictures,
    reference_vectors,
    strength,
)
from dreamloom.engine.recipe import Recipe

DEFAULT_WEIGHTS = "ip-adapter.safetensors"
DEFAULT_ENCODER_FOLDER = "image_encoder"
# The adapters' order as loaded: `ip_adapter_image_embeds` and scales follow it.
GROUPS = (Group.CONTENT, Group.STYLE)


class AdapterError(ValueError):
    """The IP-Adapter setting cannot be used with this model."""


@dataclass(frozen=True)
class AdapterSource:
    """Where an IP-Adapter's weights and image encoder are, in `load_ip_adapter`'s terms."""

    repo: str  # hub id or local folder
    subfolder: str
    weight_name: str
    image_encoder_folder: str

    @classmethod
    def parse(cls, spec: str) -> AdapterSource:
        repo, _, rest = spec.partition("#")
        weights, _, encoder = rest.partition("#")
        if not repo.strip():
            raise AdapterError(f"IP-Adapter setting {spec!r} names no repository or folder")
        subfolder, _, name = (weights or DEFAULT_WEIGHTS).rpartition("/")
        if not name.endswith((".safetensors", ".bin")):
            raise AdapterError(
                f"IP-Adapter setting {spec!r}: the weights after '#' must be a .safetensors "
                "or .bin file"
            )
        return cls(repo.strip(), subfolder, name, encoder or DEFAULT_ENCODER_FOLDER)


def resolve_source(spec: str, cache_dir: Path | None) -> AdapterSource:
    """`spec` parsed; "tiny" is built into `cache_dir` first."""
    if spec == "tiny":
        from dreamloom.engine.tiny_adapter import ensure_tiny_ip_adapter

        if cache_dir is None:
            raise AdapterError("the tiny IP-Adapter needs a cache folder to be built in")
        return AdapterSource.parse(str(ensure_tiny_ip_adapter(cache_dir)))
    return AdapterSource.parse(spec)


def load_adapter(pipeline: Any, spec: str, cache_dir: Path | None = None) -> None:
    """Load the adapter `spec` into `pipeline` as the CONTENT and STYLE adapters."""
    if getattr(pipeline, "unet", None) is None or not hasattr(pipeline, "load_ip_adapter"):
        raise AdapterError(
            f"{type(pipeline).__name__} cannot take an IP-Adapter: image references on "
            "diffusers models need a UNet pipeline (SD 1.x/2.x, SDXL)"
        )
    source = resolve_source(spec, cache_dir)
    count = len(GROUPS)
    pipeline.load_ip_adapter(
        [source.repo] * count,
        subfolder=[source.subfolder] * count,
        weight_name=[source.weight_name] * count,
        image_encoder_folder=source.image_encoder_folder,
        cache_dir=cache_dir,
    )
    if getattr(pipeline, "image_encoder", None) is None:
        raise AdapterError(f"IP-Adapter {spec!r} came without an image encoder")


def has_adapter(pipeline: Any) -> bool:
    unet = getattr(pipeline, "unet", None)
    projection = getattr(unet, "encoder_hid_proj", None)
    return type(projection).__name__ == "MultiIPAdapterImageProjection"


def style_layers(unet: Any, scale: float) -> dict[str, Any] | float:
    """The STYLE adapter's per-layer scales: `scale` in the style layers, 0 elsewhere.

    InstantStyle (Wang et al., 2024) found that in SDXL the cross-attention of
    ``up_blocks.0.attentions.1`` carries style and little content. The rule generalised: the
    first up block that has attentions (the coarsest resolution with cross-attention); where it
    has three or more, only the middle one (SDXL's choice; SD 1.5's ``up_blocks.1``), else all
    of them (small UNets such as the tiny test model). A UNet without attention in its up
    blocks gets the scale everywhere: no layer is known to carry style alone there."""
    blocks = [i for i, block in enumerate(unet.up_blocks) if hasattr(block, "attentions")]
    if not blocks:
        return scale
    if not isinstance(unet.config.layers_per_block, int):
        return scale  # per-block layer counts: diffusers' scale helper assumes one count
    count = unet.config.layers_per_block + 1
    middle = count // 2
    layers = [scale if count < 3 or i == middle else 0.0 for i in range(count)]
    return {"up": {f"block_{blocks[0]}": layers}}


class ImageConditioner:
    """Turns a recipe's references into `ip_adapter_image_embeds` and adapter scales for one
    pipeline with the adapters loaded (`load_adapter`)."""

    def __init__(self, pipeline: Any) -> None:
        if not has_adapter(pipeline):
            raise AdapterError("the pipeline has no IP-Adapter loaded")
        layers = pipeline.unet.encoder_hid_proj.image_projection_layers
        if len(layers) != len(GROUPS):
            raise AdapterError(f"expected {len(GROUPS)} IP-Adapters, found {len(layers)}")
        self.pipeline = pipeline
        self.dim = int(pipeline.image_encoder.config.projection_dim)
        self._stats: EmbeddingStats | None = None
        self._scales: list[Any] | None = None

    def encode(self, pictures: list[Image.Image]) -> torch.Tensor:
        """CLIP image embeddings (n, dim), through the pipeline's own `encode_image` (its
        feature extractor: resize, centre crop, CLIP normalisation)."""
        with torch.no_grad():
            embeds, _ = self.pipeline.encode_image(pictures, self.pipeline.device, 1)
        return embeds.float()

    def stats(self) -> EmbeddingStats:
        if self._stats is None:
            self._stats = EmbeddingStats.of(self.encode(probe_pictures()))
        return self._stats

    def inputs(self, recipe: Recipe, guided: bool) -> dict[str, Any]:
        """The pipeline arguments for `recipe`'s references (zeros at scale 0 for a group
        without any), with the scales set on the UNet for this call. `guided`: whether the
        pipeline runs classifier-free guidance, which wants the unconditional image
        embedding (zeros, as diffusers makes for IP-Adapter) first."""
        groups = grouped(recipe.references)
        embeds: list[torch.Tensor] = []
        scales: list[Any] = []
        unet = self.pipeline.unet
        for group in GROUPS:
            references = groups.get(group, [])
            vector = torch.zeros(self.dim)
            scale: Any = 0.0
            if references:
                vectors = reference_vectors(references, self.encode, self.stats)
                vector = mix(vectors, [r.weight for r in references])
                scale = strength(mean_weight(references))
                if group is Group.STYLE:
                    scale = style_layers(unet, scale)
            rows = [torch.zeros(self.dim), vector] if guided else [vector]
            embeds.append(torch.stack(rows)[:, None].to(unet.device, unet.dtype))
            scales.append(scale)
        if scales != self._scales:
            self.pipeline.set_ip_adapter_scale(scales)
            self._scales = scales
        return {"ip_adapter_image_embeds": embeds}


def takes_image_embeds(pipe: Any) -> bool:
    return "ip_adapter_image_embeds" in inspect.signature(pipe.__call__).parameters
