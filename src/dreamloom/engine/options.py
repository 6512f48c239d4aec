"""Speed options for a loaded model: `torch.compile`, channels-last memory, the attention kernel.

They trade start-up time or exact pixels for speed on a GPU, so an operator chooses them
(`DREAMLOOM_COMPILE`, `DREAMLOOM_COMPILE_MODE`, `DREAMLOOM_CHANNELS_LAST`,
`DREAMLOOM_ATTENTION`; measured effects in docs/gpu.md). The defaults leave a model exactly as
diffusers loads it. A backend applies them once, right after loading, with `apply_options`; an
option that cannot act on a model is refused there (`OptionError`), never skipped.

Importing this module does not import torch: settings and tasks carry `EngineOptions` in
processes that never load a model.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class Attention(StrEnum):
    """The attention kernel of the denoiser and the VAE."""

    # torch's `scaled_dot_product_attention`: what diffusers sets on torch 2 (AttnProcessor2_0,
    # or its attention dispatcher's "native" backend), which picks FlashAttention or the
    # memory-efficient kernel on CUDA. Models are left as loaded.
    SDPA = "sdpa"
    # diffusers' `AttnProcessor`: softmax(QK^T)V written out, the path before torch 2. Slower
    # and larger (it holds the whole attention matrix): the reference SDPA's gain is measured
    # against, and a way around a fused kernel that misbehaves on some card or driver.
    CLASSIC = "classic"


class CompileMode(StrEnum):
    """`torch.compile`'s modes (see `torch._inductor.list_mode_options`)."""

    DEFAULT = "default"
    # Tries several kernels per operation at compile time: a longer first job, maybe faster.
    MAX_AUTOTUNE_NO_CUDAGRAPHS = "max-autotune-no-cudagraphs"
    # These two also record CUDA graphs: CUDA only (refused on other devices, where they would
    # mean "default" without saying so).
    REDUCE_OVERHEAD = "reduce-overhead"
    MAX_AUTOTUNE = "max-autotune"

    @property
    def cuda_graphs(self) -> bool:
        return self in (CompileMode.REDUCE_OVERHEAD, CompileMode.MAX_AUTOTUNE)


class OptionError(ValueError):
    """An engine option that cannot act on this model or machine; the message says why."""


@dataclass(frozen=True)
class EngineOptions:
    """How a loaded model runs; plain data, so it travels to worker processes in a `Task`."""

    # torch.compile the denoiser (UNet or transformer) and the VAE's decoder: the first job of
    # each new shape (size, batch, `--tile`) compiles, later ones run the compiled kernels.
    compile: bool = False
    compile_mode: CompileMode = CompileMode.DEFAULT
    # Weights of the denoiser and the VAE in channels-last (NHWC) layout, which GPU
    # convolution kernels (cuDNN's tensor-core paths) prefer.
    channels_last: bool = False
    attention: Attention = Attention.SDPA

    def __post_init__(self) -> None:
        # Coerce plain strings (settings, JSON) to the enums; a wrong one raises ValueError.
        object.__setattr__(self, "compile_mode", CompileMode(self.compile_mode))
        object.__setattr__(self, "attention", Attention(self.attention))
        if self.compile_mode is not CompileMode.DEFAULT and not self.compile:
            raise OptionError(f"compile mode {self.compile_mode.value!r} needs compile on")

    def check_device(self, device: str) -> None:
        """Refuse what cannot act on `device` (a plain check of the configuration, done at
        start-up too; what the machine lacks is checked where the model loads)."""
        if self.compile and self.compile_mode.cuda_graphs and not device.startswith("cuda"):
            raise OptionError(
                f"compile mode {self.compile_mode.value!r} records CUDA graphs; "
                f"the device is {device!r}"
            )

    @property
    def is_default(self) -> bool:
        return self == EngineOptions()

    def describe(self) -> str:
        """One line for logs: what differs from a model as loaded."""
        parts = []
        if self.compile:
            parts.append(f"compile ({self.compile_mode.value})")
        if self.channels_last:
            parts.append("channels-last")
        if self.attention is not Attention.SDPA:
            parts.append(f"attention {self.attention.value}")
        return ", ".join(parts) or "as loaded"


def apply_options(
    options: EngineOptions, denoiser: Any, vae: Any | None = None, *, device: str = "cpu"
) -> None:
    """Apply `options` in place to a loaded model's `denoiser` (a diffusers UNet or
    transformer) and `vae` (None where the model has none).

    Whatever shares these modules (pipelines made with `from_pipe`) runs them the same way.
    Raises OptionError, before changing anything, when an option cannot act here.
    """
    if options.is_default:
        return
    modules = [m for m in (denoiser, vae) if m is not None]
    options.check_device(device)
    if options.compile:
        missing = compile_prerequisites(device)
        if missing:
            raise OptionError(f"torch.compile cannot run on this machine: {missing}")
    attending = [m for m in modules if _attention_layers(m)]
    if options.attention is Attention.CLASSIC:
        if not attending:
            raise OptionError("attention 'classic': the model has no attention layers")
        for module in attending:
            _check_classic_attention(module)
    convolving = [m for m in modules if any(p.ndim == 4 for p in m.parameters())]
    if options.channels_last and not convolving:
        # A transformer without convolutions and no VAE: the layout would change nothing.
        raise OptionError("channels-last: the model has no convolutions")
    if options.attention is Attention.CLASSIC:
        for module in attending:
            module.set_default_attn_processor()
    if options.channels_last:
        import torch

        for module in convolving:
            module.to(memory_format=torch.channels_last)
    if options.compile:
        # In place (`Module.compile`), not `torch.compile(module)`: the module keeps its class,
        # its config and its identity, so pipelines sharing it (`from_pipe`) and code that
        # reads `unet.config` or switches its convolutions' padding see the same object.
        denoiser.compile(mode=options.compile_mode.value)
        decoder = getattr(vae, "decoder", None)
        if decoder is not None:
            # The decoder alone: `vae.encode` (img2img, inpainting) runs once per job on a
            # single picture, too little to repay compiling it.
            decoder.compile(mode=options.compile_mode.value)


def compile_prerequisites(device: str) -> str:
    """What torch.compile lacks here to build kernels for `device` ("" when nothing).

    Inductor writes C++ kernels for a CPU (a C++ compiler) and, on CUDA, Triton builds its
    launchers with a C compiler; both include Python's headers. Without them the first job
    would fail deep inside torch; loading the model says so plainly instead.
    """
    missing = []
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        missing.append("Python's headers (Debian: python3-dev)")
    if device.startswith("cuda"):
        names = (os.environ.get("CC") or "", "gcc", "clang", "cc")
        kind = "a C compiler (Debian: gcc)"
    else:
        names = (os.environ.get("CXX") or "", "g++", "clang++", "c++")
        kind = "a C++ compiler (Debian: g++)"
    if not any(name and shutil.which(name) for name in names):
        missing.append(kind)
    return " and ".join(missing)


def _attention_layers(module: Any) -> dict[str, Any]:
    processors = getattr(module, "attn_processors", None)
    return dict(processors) if processors else {}


def _check_classic_attention(module: Any) -> None:
    """Refuse CLASSIC where diffusers has no classic processor for the model's attention
    (FLUX's and SD3's joint attention, ...) rather than leave it on SDPA unsaid."""
    if not callable(getattr(module, "set_default_attn_processor", None)):
        raise OptionError(f"attention 'classic' is not available for {type(module).__name__}")
    from diffusers.models.attention_processor import (
        ADDED_KV_ATTENTION_PROCESSORS,
        CROSS_ATTENTION_PROCESSORS,
    )

    kinds = {type(p) for p in _attention_layers(module).values()}
    known = (set(CROSS_ATTENTION_PROCESSORS), set(ADDED_KV_ATTENTION_PROCESSORS))
    if not any(kinds <= family for family in known):
        names = ", ".join(sorted(kind.__name__ for kind in kinds))
        raise OptionError(f"attention 'classic' cannot replace {names} in {type(module).__name__}")
