"""Explain a match: how a query's spans and a photo's regions attend to each other (torch-free).

The flow (:class:`Explainer`):

1. ``Explainer.load(bundle)`` verifies the bundle; ONNX sessions open on first use;
2. ``explainer.explain(photo, query, method=...)`` returns an :class:`Explanation` — regions
   (whole photo + detector boxes / the library's grid / given boxes), spans with their character
   ranges in the query, and every layer and head of ``text_to_region`` and ``region_to_text`` —
   computed once per (photo content, query, bundle, method, span mode, regions) and cached;
3. ``explanation.weights(AttentionView(layer=..., head=...))`` picks a matrix (a layer, a head or
   the mean, rollout over layers), and :func:`render_overlay` colours one span's row onto the
   photo — neither runs a model.

Methods are registered by name in :data:`METHODS` (``teacher``, ``similarity``; see
:mod:`dclip_core.explain.methods`). Cancel with a :class:`~dclip_core.cancel.CancelToken`:
:class:`ExplainCancelledError` is raised between model runs.
"""

from __future__ import annotations

from dclip_core.explain.errors import ExplainCancelledError, ExplainError
from dclip_core.explain.explainer import DEFAULT_MAX_REGIONS, Explainer
from dclip_core.explain.methods import METHODS, ExplainMethod, get_method
from dclip_core.explain.overlay import (
    COLORMAPS,
    COLOUR_SCALES,
    display_copy,
    render_overlay,
    write_overlay_png,
)
from dclip_core.explain.types import Explanation, Region, SpanRef
from dclip_core.explain.views import AttentionView

__all__ = [
    "COLORMAPS",
    "COLOUR_SCALES",
    "DEFAULT_MAX_REGIONS",
    "METHODS",
    "AttentionView",
    "ExplainCancelledError",
    "ExplainError",
    "ExplainMethod",
    "Explainer",
    "Explanation",
    "Region",
    "SpanRef",
    "display_copy",
    "get_method",
    "render_overlay",
    "write_overlay_png",
]
