"""Model registry, weights, and (torch) model construction.

Importing this package is cheap: only :mod:`dclip_core.models.registry` is loaded here. Modules that
need torch (``clip``, ``teacher``, ``detector`` …) are imported by name where they are used.
"""

from __future__ import annotations

from dclip_core.models.registry import (
    ModelSpec,
    WeightsSource,
    get_model_spec,
    list_model_specs,
    register_model,
)
from dclip_core.runtime.preprocess import ImagePreprocess

__all__ = [
    "ImagePreprocess",
    "ModelSpec",
    "WeightsSource",
    "get_model_spec",
    "list_model_specs",
    "register_model",
]
