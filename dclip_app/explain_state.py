"""What the explain window shows, without Qt: colours, sentences, choices and the JSON export.

The window is a thin view over these functions. They read an
:class:`~dclip_core.explain.Explanation` and never run a model: another span, region, layer, head,
colour scale or colormap is numpy on the stored maps.

1. :func:`region_shades` — select a span: each region's weight (text→region row), scaled
   (:data:`~dclip_core.explain.COLOUR_SCALES`), coloured (:data:`~dclip_core.explain.COLORMAPS`)
   with opacity rising with the value, exactly as the core's own PNG overlay colours it;
2. :func:`span_shades` — select a region: each span's weight (region→text row), coloured alike;
3. :func:`method_sentence` / :func:`caveat_sentence` — which method is showing, what it means
   and, plainly, when it means nothing;
4. :func:`export_json` — the explanation, the view shown and the colours, for a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from dclip_core.explain import COLOUR_SCALES, AttentionView, Explanation
from dclip_core.explain.overlay import ALPHA_GAMMA, colour_of

DEFAULT_COLORMAP = "viridis"
DEFAULT_SCALE = "span"
DEFAULT_OPACITY = 0.6

# A sentence per method, in words a user reads; a method without one shows the core's summary.
METHOD_SENTENCES: dict[str, str] = {
    "teacher": (
        "Showing the DCLIP teacher's cross-attention: how strongly each part of the query "
        "attended to each region of the photo inside the model that taught the search model."
    ),
    "similarity": (
        "Showing similarity, the training-free method: each part of the query and each region's "
        "crop are embedded by the search model and compared; a region's weight is its share of "
        "the softmax over those cosines. It tells which regions look like the words, not what a "
        "model attended to."
    ),
}

Layer = int | Literal["rollout"]


@dataclass(frozen=True)
class Shade:
    """The colour of one region (or span chip) for the current selection.

    Attributes:
        index: the region's (or span's) index in the explanation.
        weight: the attention weight, as the core returned it.
        value: the weight on the colour scale, in [0, 1].
        rgb: the colormap's colour at ``value``.
        alpha: fill opacity 0..255, rising with ``value``.
    """

    index: int
    weight: float
    value: float
    rgb: tuple[int, int, int]
    alpha: int


@dataclass(frozen=True)
class ShadeSet:
    """Shades of one row, with what the legend needs to read them."""

    shades: tuple[Shade, ...]
    scale: str
    colormap: str
    top: float = field(default=0.0)  # the weight drawn at full colour

    def of(self, index: int) -> Shade:
        return self.shades[index]


def shade_row(
    weights: np.ndarray,
    *,
    scale: str = DEFAULT_SCALE,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
) -> ShadeSet:
    """Colour a row of weights as the core's overlay does (``render_overlay``)."""
    row = np.asarray(weights, dtype=np.float32)
    values = COLOUR_SCALES[scale](row)
    shades = tuple(
        Shade(
            index=i,
            weight=float(row[i]),
            value=float(values[i]),
            rgb=colour_of(float(values[i]), colormap),
            alpha=round(255 * opacity * float(values[i]) ** ALPHA_GAMMA),
        )
        for i in range(len(row))
    )
    top = float(row.max()) if scale == "span" and row.size else 1.0
    return ShadeSet(shades, scale, colormap, top)


def region_shades(
    explanation: Explanation,
    span: int,
    view: AttentionView,
    *,
    scale: str = DEFAULT_SCALE,
    colormap: str = DEFAULT_COLORMAP,
) -> ShadeSet:
    """Each region coloured by how span ``span`` attends to it (``view``'s layer and head)."""
    return shade_row(
        explanation.span_weights(span, text_view(view)), scale=scale, colormap=colormap
    )


def span_shades(
    explanation: Explanation,
    region: int,
    view: AttentionView,
    *,
    scale: str = DEFAULT_SCALE,
    colormap: str = DEFAULT_COLORMAP,
) -> ShadeSet:
    """Each span coloured by how region ``region`` attends to it (region→text row)."""
    matrix = explanation.weights(region_view(view))
    return shade_row(matrix[region], scale=scale, colormap=colormap)


def text_view(view: AttentionView) -> AttentionView:
    return AttentionView("text_to_region", view.layer, view.head, view.hidden_regions)


def region_view(view: AttentionView) -> AttentionView:
    return AttentionView("region_to_text", view.layer, view.head, view.hidden_regions)


def layer_choices(explanation: Explanation) -> list[tuple[str, Layer]]:
    """Layer menu entries: each layer (the last is the default), then rollout when there are two."""
    count = explanation.layers
    if count == 1:
        return [("the only layer", -1)]
    choices: list[tuple[str, Layer]] = [(f"layer {i + 1} of {count}", i) for i in range(count)]
    choices[-1] = (f"layer {count} of {count} (last)", -1)
    choices.append(("rollout over all layers", "rollout"))
    return choices


def head_choices(explanation: Explanation) -> list[tuple[str, int | None]]:
    """Head menu entries: the mean of the heads (default), then each head."""
    if explanation.heads == 1:
        return [("the only head", None)]
    return [("mean of heads", None)] + [
        (f"head {i + 1} of {explanation.heads}", i) for i in range(explanation.heads)
    ]


def view_words(view: AttentionView, explanation: Explanation) -> str:
    """E.g. "layer 2 of 2, mean of heads"."""
    layer = dict((value, label) for label, value in layer_choices(explanation))
    head = dict((value, label) for label, value in head_choices(explanation))
    layer_label = (
        "rollout" if view.layer == "rollout" else layer.get(view.layer, f"layer {view.layer}")
    )
    return f"{layer_label}, {head.get(view.head, 'mean of heads')}"


def method_sentence(explanation: Explanation) -> str:
    """Which method is showing and what its weights mean, in one or two sentences."""
    sentence = METHOD_SENTENCES.get(
        explanation.method, f"Showing {explanation.method}: {explanation.method_summary}."
    )
    spans = "phrases" if explanation.span_mode == "phrases" else "single words (tokens)"
    source = explanation.region_source
    if source.startswith("detector:"):
        regions = f"boxes of the detector {source.split(':', 1)[1]}"
    elif source == "grid":
        regions = "the library's fixed grid (this bundle has no detector)"
    else:
        regions = "the boxes given"
    return f"{sentence} Query split into {spans}; regions: the whole photo and {regions}."


def caveat_sentence(explanation: Explanation) -> str:
    """ "" when the weights mean something; else why not, said plainly."""
    if explanation.meaningful:
        return ""
    reasons = [c for c in explanation.caveats if "grid" not in c] or list(explanation.caveats)
    return "Not meaningful yet: " + "; ".join(reasons) + "."


def unavailable_method_reason(method: str, available: list[str], bundle_name: str) -> str:
    """Why ``method`` cannot run on this bundle (the method menu's tooltip)."""
    if method in available:
        return ""
    if method == "teacher":
        return (
            f"the bundle {bundle_name!r} has no explain/ part (no trained teacher); only the "
            "training-free similarity method can run on it"
        )
    return f"the bundle {bundle_name!r} cannot run {method!r}"


def export_json(
    explanation: Explanation,
    view: AttentionView,
    *,
    span: int | None,
    region: int | None,
    scale: str = DEFAULT_SCALE,
    colormap: str = DEFAULT_COLORMAP,
) -> dict[str, Any]:
    """The explanation (every layer and head), the view and selection shown, and the colours."""
    data = explanation.to_json(text_view(view))
    shown: dict[str, Any] = {
        "view_words": view_words(view, explanation),
        "span": span,
        "region": region,
        "scale": scale,
        "colormap": colormap,
        "method_sentence": method_sentence(explanation),
        "caveat": caveat_sentence(explanation),
    }
    if span is not None:
        shades = region_shades(explanation, span, view, scale=scale, colormap=colormap)
        shown["region_colours"] = [_shade_json(s) for s in shades.shades]
    if region is not None:
        shades = span_shades(explanation, region, view, scale=scale, colormap=colormap)
        shown["span_colours"] = [_shade_json(s) for s in shades.shades]
        shown["region_to_text"] = [round(s.weight, 6) for s in shades.shades]
    data["shown"] = shown
    return data


def _shade_json(shade: Shade) -> dict[str, Any]:
    return {
        "index": shade.index,
        "weight": round(shade.weight, 6),
        "rgb": list(shade.rgb),
        "alpha": shade.alpha,
    }
