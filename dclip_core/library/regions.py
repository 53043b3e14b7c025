"""Region vectors: a photo indexed as its whole view plus a fixed grid of overlapping crops.

One vector per photo describes what fills the frame; a small thing in a corner — a red circle in
a scene of four shapes, a dog far away on a beach — barely moves it, and the model's centre crop
never sees the sides of a panorama at all. A *layout* adds a vector for each of a few fixed crops
(views) of the photo; a photo scores as its best view, and a search result says which view matched
(:attr:`~dclip_core.library.query.SearchResult.region`), so the app can show where.

Cost: ``len(views)`` image encodings and vectors per photo instead of one. The layout is part of a
library model's identity (:func:`library_fingerprint`): a library indexed with regions keeps them in
a model row of its own, and changing the layout re-embeds into a new row, never mixing the two.

Storage: a model's ``embeddings.vector`` blob holds its views' vectors one after the other (whole
photo first); the ANN index holds one label per view, ``image_id * LABEL_STRIDE + view``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

# (left, top, right, bottom) as fractions of the photo's width and height.
Box = tuple[float, float, float, float]

WHOLE: Box = (0.0, 0.0, 1.0, 1.0)


def _grid(n: int, side: float) -> tuple[Box, ...]:
    """``n`` x ``n`` crops of ``side`` (a fraction of each dimension), evenly spaced, row by row."""
    step = (1.0 - side) / (n - 1)
    return tuple(
        (i * step, j * step, i * step + side, j * step + side) for j in range(n) for i in range(n)
    )


# name -> the crops indexed besides the whole photo. 2 x 2 crops of 60 % of each side overlap by a
# fifth, so a thing cut by one crop's edge is whole in its neighbour; chosen on the shapes world
# (docs/benchmarks.md, "Region vectors").
LAYOUTS: dict[str, tuple[Box, ...]] = {
    "none": (),
    "grid": _grid(2, 0.6),
}
DEFAULT_LAYOUT = "none"
# Views per photo can never exceed this: it spaces the ANN labels of consecutive photos.
LABEL_STRIDE = 8
assert all(len(crops) + 1 <= LABEL_STRIDE for crops in LAYOUTS.values())


def check_layout(name: str) -> str:
    """``name`` if it is a known layout, else a ValueError listing the known ones."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown region layout {name!r}; expected one of {sorted(LAYOUTS)}")
    return name


def views(layout: str) -> tuple[Box, ...]:
    """The boxes a photo is embedded as under ``layout``: the whole photo first, then its crops."""
    return (WHOLE, *LAYOUTS[check_layout(layout)])


def view_count(layout: str) -> int:
    return len(views(layout))


def decode_side(layout: str, size: int) -> int:
    """Shortest side to decode a photo at so that its smallest view still covers ``size`` px."""
    crops = LAYOUTS[check_layout(layout)]
    if not crops:
        return size
    smallest = min(min(right - left, bottom - top) for left, top, right, bottom in crops)
    return math.ceil(size / smallest)


def library_fingerprint(bundle_fingerprint: str, layout: str) -> str:
    """The library's key of a bundle's vectors under ``layout`` (the bundle's own if none)."""
    check_layout(layout)
    return bundle_fingerprint if layout == "none" else f"{bundle_fingerprint}+{layout}"


def crop_views(image: Image.Image, layout: str) -> list[Image.Image]:
    """``image`` cut into the layout's views (the first is ``image`` itself)."""
    out = []
    for box in views(layout):
        if box == WHOLE:
            out.append(image)
            continue
        left, top, right, bottom = box
        pixels = (
            round(left * image.width),
            round(top * image.height),
            max(round(right * image.width), round(left * image.width) + 1),
            max(round(bottom * image.height), round(top * image.height) + 1),
        )
        out.append(image.crop(pixels))
    return out


def describe_box(box: Box) -> str:
    """Where a view lies in the photo, in words: ``"top left"``, ``"centre"``, ``"bottom"``…"""
    left, top, right, bottom = box
    x, y = (left + right) / 2, (top + bottom) / 2
    row = "top" if y < 0.4 else "bottom" if y > 0.6 else ""
    column = "left" if x < 0.4 else "right" if x > 0.6 else ""
    return " ".join(part for part in (row, column) if part) or "centre"


def ann_labels(image_ids: Sequence[int] | np.ndarray, count: int) -> np.ndarray:
    """ANN labels of the ``count`` views of each image, image by image."""
    ids = np.asarray(image_ids, dtype=np.int64)
    return (ids[:, None] * LABEL_STRIDE + np.arange(count, dtype=np.int64)[None, :]).reshape(-1)


