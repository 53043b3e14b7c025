"""What the library needs from a model, as protocols.

The slice of :class:`dclip_core.runtime.encoders.ClipEncoder` that indexing and search call, so
they depend on behaviour, not on one class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from dclip_core.runtime.bundle import BundleManifest


class ImageEncoder(Protocol):
    """Embeds preprocessed pixels; the manifest says how to preprocess and identifies the model."""

    @property
    def manifest(self) -> BundleManifest: ...

    @property
    def fingerprint(self) -> str:
        """16 hex chars identifying the model (and variant) whose vectors this produces."""
        ...

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """``(B, 3, S, S)`` float32 -> ``(B, D)`` float32, L2-normalised."""
        ...


class Encoder(ImageEncoder, Protocol):
    """An image encoder that also embeds text queries."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``N`` strings -> ``(N, D)`` float32, L2-normalised."""
        ...
