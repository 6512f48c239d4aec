"""Naming models: facts about a model without loading it, and loading it into a backend.

`model_info` is cheap (it reads a few small JSON files at most) because submissions need it:
the recipe is built, and its cost known, before any worker has the model in memory.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from dreamloom.engine.backends.base import Backend
from dreamloom.engine.backends.simulated import SimulatedGpuBackend, is_simulated, simulated_info
from dreamloom.engine.options import EngineOptions, OptionError
from dreamloom.engine.recipe import LATENT_MULTIPLE, ModelInfo
from dreamloom.engine.references import ReferenceKind
from dreamloom.engine.tiny import (
    DEFAULTS_FILE,
    TINY_GUIDANCE,
    TINY_NAME,
    TINY_NATIVE,
    TINY_STEPS,
    ensure_tiny_model,
)

# The project's own small model, shipped inside the package (see dreamloom.bundled).
BUNDLED_NAME = "bundled"

# Defaults by family, matched on the lower-cased name in this order. Turbo models are distilled
# for a step or a few without classifier-free guidance (so no negative prompt either).
_FAMILIES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("turbo", {"native_size": 512, "default_steps": 1, "default_guidance": 0.0}),
    ("xl", {"native_size": 1024, "default_steps": 30, "default_guidance": 5.0}),
    ("2-1-base", {"native_size": 512}),
    ("2-base", {"native_size": 512}),
    ("stable-diffusion-2", {"native_size": 768}),
)


def _by_name(name: str) -> ModelInfo:
    info = ModelInfo(name=name)
    lowered = name.lower()
    for needle, values in _FAMILIES:
        if needle in lowered:
            info = replace(info, **values)
            break
    return _with_negative_rule(info)


def _with_negative_rule(info: ModelInfo) -> ModelInfo:
    return replace(info, supports_negative=info.default_guidance > 1.0)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _from_folder(name: str, folder: Path, label: str) -> ModelInfo:
    """Refine the guess by `label` (folder or hub name) with the folder's own configs; no
    weights are read."""
    info = replace(_by_name(label), name=name)
    vae = _read_json(folder / "vae" / "config.json")
    factor = 2 ** (len(vae["block_out_channels"]) - 1) if "block_out_channels" in vae else None
    factor = factor or LATENT_MULTIPLE
    unet = _read_json(folder / "unet" / "config.json")
    if not unet and (folder / "transformer").is_dir():
        factor *= 2  # FLUX, SD3: latents packed in 2x2 patches
    sample = unet.get("sample_size")
    if isinstance(sample, list):
        sample = max(sample)
    if isinstance(sample, int):
        info = replace(info, native_size=sample * factor)
    info = replace(info, multiple=factor)
    overrides = _read_json(folder / DEFAULTS_FILE)
    allowed = {"native_size", "default_steps", "default_guidance"}
    info = replace(info, **{k: v for k, v in overrides.items() if k in allowed})
    return _with_negative_rule(info)


def _hub_snapshot(ref: str, cache_dir: Path | None) -> Path | None:
    """The folder of a hub model already in the cache, without touching the network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - diffusers depends on it
        return None
    found = try_to_load_from_cache(ref, "model_index.json", cache_dir=cache_dir)
    return Path(found).parent if isinstance(found, str) else None


def model_info(
    ref: str, cache_dir: Path | None = None, *, ip_adapter: str | None = None
) -> ModelInfo:
    """Facts about model `ref` ("tiny", "bundled", "simulated-gpu:MS", a local folder or a hub
    id) without loading weights. `ip_adapter` is the IP-Adapter the diffusers model is loaded
    with (see `load_backend`): with one it takes every reference kind, without none."""
    info = _model_info(ref, cache_dir)
    if ip_adapter is not None and not is_simulated(ref) and ref != BUNDLED_NAME:
        info = replace(info, reference_kinds=frozenset(ReferenceKind))
    return info


def _model_info(ref: str, cache_dir: Path | None) -> ModelInfo:
    if is_simulated(ref):
        return simulated_info(ref)
    if ref == BUNDLED_NAME:
        from dreamloom.engine.backends.bundled import INFO

        return INFO
    if ref == TINY_NAME:
        return ModelInfo(
            name=TINY_NAME,
            native_size=TINY_NATIVE,
            multiple=LATENT_MULTIPLE,
            default_steps=TINY_STEPS,
            default_guidance=TINY_GUIDANCE,
            supports_negative=True,
        )
    local = Path(ref).expanduser()
    if (local / "model_index.json").exists():
        return _from_folder(ref, local, local.name)
    snapshot = _hub_snapshot(ref, cache_dir)
    if snapshot is not None:
        return _from_folder(ref, snapshot, ref)
    return _by_name(ref)


def load_backend(
    ref: str,
    *,
    cache_dir: Path,
    device: str = "cpu",
    options: EngineOptions = EngineOptions(),
    ip_adapter: str | None = None,
) -> Backend:
    """Load model `ref` into a backend: "tiny" (built once into `cache_dir`), a local folder,
    a hub id (downloaded into `cache_dir` by diffusers on first use), or "simulated-gpu:MS"
    (a benchmarking aid: a GPU simulated by waits, see `backends.simulated`), with the speed
    `options` applied (an option that cannot act on it raises `OptionError`).

    `ip_adapter` ("repo_or_path[#subfolder/weight_name[#image_encoder_folder]]", or "tiny"
    for the tiny model; see `backends.ip_adapter`) lets a diffusers model take image
    references. The bundled model has its own image encoder and ignores it; the simulated GPU
    has no model to condition and refuses it."""
    if is_simulated(ref):
        if options != EngineOptions():
            raise OptionError("the simulated GPU has no model for speed options to act on")
        if ip_adapter is not None:
            raise OptionError("the simulated GPU has no model for an IP-Adapter to act on")
        return SimulatedGpuBackend.from_ref(ref)
    if ref == BUNDLED_NAME:
        from dreamloom.engine.backends.bundled import load_bundled_backend

        return load_bundled_backend(cache_dir, device, options)
    from dreamloom.engine.backends.diffusers import DiffusersBackend

    source: str | Path = ensure_tiny_model(cache_dir) if ref == TINY_NAME else ref
    info = model_info(ref, cache_dir, ip_adapter=ip_adapter)
    return DiffusersBackend.from_pretrained(
        source,
        info=info,
        cache_dir=cache_dir,
        device=device,
        options=options,
        ip_adapter=ip_adapter,
    )
