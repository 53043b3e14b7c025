"""Pretrained weights: the local cache, downloads with hash checks, and user-imported files."""

from __future__ import annotations

from pathlib import Path

from dclip_core.config.paths import get_paths
from dclip_core.models.registry import ModelSpec


def cached_weights_path(spec: ModelSpec) -> Path | None:
    """The verified weights file of ``spec`` in the cache, or None when it is not there yet."""
    if spec.weights is None:
        return None
    path = get_paths().weights_dir / spec.weights.filename
    return path if path.is_file() else None
