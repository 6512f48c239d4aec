"""`--tile`: make every convolution wrap around, so the picture is a torus and its edges meet.

Circular padding is a per-layer attribute of torch's Conv2d (`padding_mode`); it is switched
for the run and restored afterwards, so the loaded model is left as it was found.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def circular_padding(modules: Iterable[nn.Module], enabled: bool = True) -> Iterator[int]:
    """Yields the number of convolutions switched (0 when not enabled)."""
    saved: list[tuple[nn.Conv2d, str]] = []
    if enabled:
        for module in modules:
            for layer in module.modules():
                if isinstance(layer, nn.Conv2d):
                    saved.append((layer, layer.padding_mode))
                    # Conv2d keeps the padding amounts for non-zero modes from construction
                    # (`_reversed_padding_repeated_twice`), so the mode alone can be changed.
                    layer.padding_mode = "circular"
    try:
        yield len(saved)
    finally:
        for layer, mode in saved:
            layer.padding_mode = mode
