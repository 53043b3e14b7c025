"""Colour an explanation onto its photo: colour scales and colormaps by name, PIL only.

Re-colouring is numpy and PIL on the stored maps (no model runs): pick a span's row
(:meth:`Explanation.weights`), scale it (:data:`COLOUR_SCALES`), map it through a perceptually
uniform colormap (:data:`COLORMAPS`, viridis by default) and fill each region box with alpha
``opacity * value ** 0.7`` (so weak regions let the photo show through, as LAVIS/ALBEF overlays
do), strongest region drawn last. The whole photo (region 0) is not filled — it would cover
everything — its weight is written in the legend instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dclip_core.config.paths import atomic_write_bytes
from dclip_core.explain.types import Explanation
from dclip_core.explain.views import AttentionView

DISPLAY_MAX_SIDE = 1024
ALPHA_GAMMA = 0.7

ColourScale = Callable[[np.ndarray], np.ndarray]


def _span_scale(weights: np.ndarray) -> np.ndarray:
    top = float(weights.max()) if weights.size else 0.0
    return weights / top if top > 0 else weights


def _absolute_scale(weights: np.ndarray) -> np.ndarray:
    return np.clip(weights, 0.0, 1.0)


# name -> weights in [0, 1] of one row -> values in [0, 1] to colour.
COLOUR_SCALES: dict[str, ColourScale] = {
    "span": _span_scale,  # the span's strongest region is full colour
    "absolute": _absolute_scale,  # the weight itself (rows sum to 1)
}

# name -> control points (0..255 RGB) spaced evenly over [0, 1], from matplotlib's tables.
COLORMAPS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "viridis": (
        (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
        (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37),
    ),
    "inferno": (
        (0, 0, 4), (27, 12, 65), (74, 12, 107), (120, 28, 109), (165, 44, 96),
        (207, 68, 70), (237, 105, 37), (251, 155, 6), (247, 209, 61), (252, 255, 164),
    ),
}  # fmt: skip


def colour_of(value: float, colormap: str = "viridis") -> tuple[int, int, int]:
    """The colormap's RGB at ``value`` in [0, 1] (linear between control points)."""
    points = COLORMAPS[colormap]
    position = min(max(value, 0.0), 1.0) * (len(points) - 1)
    low = int(position)
    high = min(low + 1, len(points) - 1)
    t = position - low
    a, b = points[low], points[high]
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def display_copy(image: Image.Image, max_side: int = DISPLAY_MAX_SIDE) -> Image.Image:
    """``image`` shrunk to ``max_side`` on its long side (RGB), for drawing on."""
    rgb = image.convert("RGB")
    scale = max_side / max(rgb.size)
    if scale >= 1:
        return rgb.copy()
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return rgb.resize(size, Image.Resampling.BILINEAR)


def render_overlay(
    image: Image.Image,
    explanation: Explanation,
    span: int,
    view: AttentionView | None = None,
    *,
    scale: str = "span",
    colormap: str = "viridis",
    opacity: float = 0.6,
) -> Image.Image:
    """``image`` (any size of the photo) with span ``span``'s attention on the regions.

    Raises:
        ValueError: unknown span, scale or colormap.
    """
    if scale not in COLOUR_SCALES:
        raise ValueError(
            f"unknown colour scale {scale!r}; choose one of {', '.join(COLOUR_SCALES)}"
        )
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}")
    if not 0 <= span < len(explanation.spans):
        raise ValueError(f"span {span} does not exist; the query has {len(explanation.spans)}")
    weights = explanation.span_weights(span, view)
    values = COLOUR_SCALES[scale](weights)
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    sx = base.width / explanation.image_size[0]
    sy = base.height / explanation.image_size[1]
    line = max(1, round(max(base.size) / 400))
    for index in sorted(range(1, len(explanation.regions)), key=lambda i: values[i]):
        x1, y1, x2, y2 = explanation.regions[index].box
        box = (x1 * sx, y1 * sy, max(x2 * sx - 1, x1 * sx), max(y2 * sy - 1, y1 * sy))
        rgb = colour_of(float(values[index]), colormap)
        alpha = round(255 * opacity * float(values[index]) ** ALPHA_GAMMA)
        draw.rectangle(box, fill=(*rgb, alpha), outline=(*rgb, 255), width=line)
        draw.text(
            (box[0] + line + 1, box[1] + line),
            f"{explanation.regions[index].label} {weights[index]:.2f}",
            fill=(255, 255, 255, 255),
        )
    caption = f"{explanation.spans[span].text!r} ({explanation.method}) photo {weights[0]:.2f}"
    if not explanation.meaningful:
        caption += " - NOT MEANINGFUL"
    draw.rectangle((0, 0, base.width, 12), fill=(0, 0, 0, 160))
    draw.text((2, 0), caption, fill=(255, 255, 255, 255))
    return Image.alpha_composite(base, layer).convert("RGB")


def write_overlay_png(
    path: Path,
    image: Image.Image,
    explanation: Explanation,
    view: AttentionView | None = None,
    *,
    scale: str = "span",
    colormap: str = "viridis",
) -> Path:
    """One overlay per span side by side (a strip), written atomically as PNG.

    Returns:
        ``path``.
    """
    display = display_copy(
        image, DISPLAY_MAX_SIDE // 2 if len(explanation.spans) > 2 else DISPLAY_MAX_SIDE
    )
    tiles = [
        render_overlay(display, explanation, i, view, scale=scale, colormap=colormap)
        for i in range(len(explanation.spans))
    ]
    columns = min(len(tiles), 4)
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * display.width, rows * display.height), (0, 0, 0))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * display.width, (i // columns) * display.height))
    import io

    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return path
