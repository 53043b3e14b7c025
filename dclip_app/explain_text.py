"""The exact numbers of an explanation, in words: tooltips of boxes and chips, the info line.

Qt-free, like :mod:`dclip_app.explain_state`: the window puts these strings where the pointer is.
"""

from __future__ import annotations

from dclip_app.explain_state import region_view, text_view, view_words
from dclip_core.explain import AttentionView, Explanation


def region_label(explanation: Explanation, index: int) -> str:
    """What a region is called on the canvas ("whole photo" for region 0)."""
    region = explanation.regions[index]
    return "whole photo" if region.kind == "photo" else region.label


def span_words(explanation: Explanation, index: int) -> str:
    return explanation.spans[index].text or "(end of text)"


def chip_tooltips(explanation: Explanation, view: AttentionView, region: int | None) -> list[str]:
    """Each span chip's tooltip; with ``region``, that region's region→text weight on it."""
    to_spans = explanation.weights(region_view(view))
    tips = []
    for i, span in enumerate(explanation.spans):
        where = (
            f"characters {span.chars[0]}–{span.chars[1]} of the query"
            if span.chars
            else "only in the model's template words"
        )
        tip = f"“{span_words(explanation, i)}” ({where})\nClick: colour the regions by this span"
        if region is not None:
            label = region_label(explanation, region)
            tip += f"\nregion “{label}” → this span: {to_spans[region, i]:.4f}"
        tips.append(tip)
    return tips


def box_tooltip(explanation: Explanation, view: AttentionView, index: int, span: int | None) -> str:
    """A region's tooltip: what it is and, with ``span``, both weights between them."""
    region = explanation.regions[index]
    lines = [
        f"{region_label(explanation, index)} ({region.kind}, confidence {region.confidence:.3f})"
    ]
    if span is not None:
        words = span_words(explanation, span)
        to_region = explanation.weights(text_view(view))[span, index]
        to_span = explanation.weights(region_view(view))[index, span]
        lines.append(f"“{words}” → this region: {to_region:.4f}")
        lines.append(f"this region → “{words}”: {to_span:.4f}")
    lines.append("Click: shade the query's spans by this region")
    return "\n".join(lines)


def info_line(
    explanation: Explanation, view: AttentionView, span: int | None, region: int | None
) -> str:
    """The line under the photo: the view, and the exact weights of what is pointed at."""
    parts = [view_words(view, explanation)]
    if span is not None and region is not None:
        weight = explanation.weights(text_view(view))[span, region]
        parts.append(
            f"“{span_words(explanation, span)}” → {region_label(explanation, region)}: {weight:.4f}"
        )
    elif region is not None:
        row = explanation.weights(region_view(view))[region]
        pairs = ", ".join(
            f"“{span_words(explanation, i)}” {w:.3f}" for i, w in enumerate(row.tolist())
        )
        parts.append(f"{region_label(explanation, region)} → {pairs}")
    elif span is not None:
        weight = explanation.weights(text_view(view))[span, 0]
        parts.append(f"“{span_words(explanation, span)}” → whole photo: {weight:.4f}")
    return " · ".join(parts)
