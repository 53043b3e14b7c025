"""Box geometry of the edit tool in photo pixels (Qt-free): draw, move and resize, kept inside.

A rect is ``(x, y, width, height)`` in pixels of the upright photo, the unit the library stores.
Every result lies inside the photo, so what the tool shows is what the core accepts.
"""

from __future__ import annotations

Rect = tuple[float, float, float, float]
Point = tuple[float, float]
Size = tuple[int, int]

# Handles in the order they are drawn; each names which edges it drags.
HANDLES: dict[str, tuple[bool, bool, bool, bool]] = {
    # name: (moves left, moves top, moves right, moves bottom)
    "top_left": (True, True, False, False),
    "top": (False, True, False, False),
    "top_right": (False, True, True, False),
    "right": (False, False, True, False),
    "bottom_right": (False, False, True, True),
    "bottom": (False, False, False, True),
    "bottom_left": (True, False, False, True),
    "left": (True, False, False, False),
}


def handle_points(rect: Rect) -> dict[str, Point]:
    """Where each handle sits on ``rect``."""
    x, y, w, h = rect
    xs = {"left": x, "mid": x + w / 2, "right": x + w}
    ys = {"top": y, "mid": y + h / 2, "bottom": y + h}
    out = {}
    for name, (left, top, right, bottom) in HANDLES.items():
        hx = xs["left"] if left else xs["right"] if right else xs["mid"]
        hy = ys["top"] if top else ys["bottom"] if bottom else ys["mid"]
        out[name] = (hx, hy)
    return out


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def drawn(start: Point, end: Point, size: Size) -> Rect:
    """The box spanned by dragging from ``start`` to ``end``, cut to the photo."""
    width, height = size
    x1, x2 = sorted((_clamp(start[0], 0, width), _clamp(end[0], 0, width)))
    y1, y2 = sorted((_clamp(start[1], 0, height), _clamp(end[1], 0, height)))
    return (x1, y1, x2 - x1, y2 - y1)


def moved(rect: Rect, dx: float, dy: float, size: Size) -> Rect:
    """``rect`` shifted by ``(dx, dy)``, stopped at the photo's edges (its size unchanged)."""
    x, y, w, h = rect
    width, height = size
    return (_clamp(x + dx, 0, max(0.0, width - w)), _clamp(y + dy, 0, max(0.0, height - h)), w, h)


def resized(rect: Rect, handle: str, point: Point, size: Size) -> Rect:
    """``rect`` with the edges of ``handle`` dragged to ``point`` (inside the photo).

    Dragging an edge past the opposite one flips the box rather than giving a negative size.
    """
    left, top, right, bottom = HANDLES[handle]
    x, y, w, h = rect
    width, height = size
    px, py = _clamp(point[0], 0, width), _clamp(point[1], 0, height)
    x1, y1, x2, y2 = x, y, x + w, y + h
    if left:
        x1 = px
    if right:
        x2 = px
    if top:
        y1 = py
    if bottom:
        y2 = py
    return drawn((x1, y1), (x2, y2), size)


def rounded(rect: Rect, size: Size, places: int = 2) -> Rect:
    """Coordinates as stored by the app (a drag means nothing finer than 1/100 pixel), still
    inside the photo after rounding."""
    x, y, w, h = (round(v, places) for v in rect)
    x, y = _clamp(x, 0, size[0]), _clamp(y, 0, size[1])
    return (x, y, _clamp(w, 0, size[0] - x), _clamp(h, 0, size[1] - y))
