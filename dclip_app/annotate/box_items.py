"""How an annotation box looks on the canvas and in the box list.

:class:`CanvasBoxes` keeps the canvas's items in step with the photo's state, one box at a time.
A label keeps its colour everywhere (a stable pick from a palette readable on photos); a
suggestion is dashed amber with its detector score, whatever its label, so the boxes waiting for
review stand out from the accepted ones.
"""

from __future__ import annotations

import zlib

from PySide6.QtCore import QRectF

from dclip_app.annotate.edit_tool import BoxEditTool
from dclip_app.annotate.photo_state import PhotoAnnotations
from dclip_app.canvas_items import BoxItem
from dclip_core.library.annotations import Box

# Bright, distinct hues that read on dark and light photos alike.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 200, 255),
    (80, 230, 120),
    (255, 120, 200),
    (170, 140, 255),
    (255, 160, 60),
    (60, 240, 220),
    (230, 230, 80),
    (255, 90, 90),
)
SUGGESTED = (255, 176, 0)
SOURCE_WORDS = {"user": "drawn", "imported": "imported", "detector": "detector"}


def label_colour(label: str) -> tuple[int, int, int]:
    """The colour of ``label``: the same in every session (a hash, not the label's order)."""
    return PALETTE[zlib.crc32(label.encode("utf-8")) % len(PALETTE)]


def box_text(box: Box) -> str:
    """One line for the box list: label, where it came from, the score of a suggestion."""
    if box.status == "suggested":
        score = "" if box.score is None else f" {box.score:.2f}"
        return f"{box.label}{score} · suggested, waiting for review"
    return f"{box.label} · {SOURCE_WORDS.get(box.source, box.source)}"


def make_item(box: Box) -> BoxItem:
    """A canvas item for ``box`` (its index is the box id)."""
    item = BoxItem(box.id, QRectF(box.x, box.y, box.width, box.height), box.label)
    style_item(item, box)
    return item


def style_item(item: BoxItem, box: Box) -> None:
    """Bring ``item`` in line with ``box``: place, label, colour, dashed or not."""
    item.set_box_rect(QRectF(box.x, box.y, box.width, box.height))
    suggested = box.status == "suggested"
    item.label = box.label
    item.confidence = box.score if suggested else None
    item.set_detail("suggested" if suggested else "")
    item.set_colour(SUGGESTED if suggested else label_colour(box.label), 0 if suggested else 28)
    item.set_dashed(suggested)
    item.setToolTip(
        f"{box_text(box)}\n{box.width:.0f} × {box.height:.0f} px at ({box.x:.0f}, {box.y:.0f})"
    )


def highlight(item: BoxItem, on: bool, box: Box) -> None:
    """A stronger fill: the box a selected caption's words name."""
    colour = SUGGESTED if box.status == "suggested" else label_colour(box.label)
    item.set_colour(colour, 70 if on else (0 if box.status == "suggested" else 28))


class CanvasBoxes:
    """The canvas items of a photo's boxes (item index = box id), redone one box at a time."""

    def __init__(self, tool: BoxEditTool) -> None:
        self.tool = tool
        self.canvas = tool.canvas
        self.highlighted: set[int] = set()

    def show_all(self, state: PhotoAnnotations) -> None:
        """An item per box (after ``set_photo`` cleared the canvas)."""
        self.highlighted = set()
        for box in state.boxes.values():
            self.canvas.add_box(make_item(box))

    def sync(self, state: PhotoAnnotations, box_id: int) -> None:
        """Add, restyle or remove the item of ``box_id`` as ``state`` has it now."""
        item = self.tool.item(box_id)
        box = state.boxes.get(box_id)
        if box is None:
            if item is not None:
                if self.tool.selected == box_id:
                    self.tool.select(None)
                self.canvas.remove_box(item)
            self.highlighted.discard(box_id)
            return
        if item is None:
            item = self.canvas.add_box(make_item(box))
        else:
            style_item(item, box)
        if box_id in self.highlighted:
            highlight(item, True, box)

    def highlight(self, state: PhotoAnnotations, linked: set[int]) -> None:
        """Fill the boxes ``linked`` (the words of the selected caption name them)."""
        for box_id in linked ^ self.highlighted:
            item, box = self.tool.item(box_id), state.boxes.get(box_id)
            if item is not None and box is not None:
                highlight(item, box_id in linked, box)
        self.highlighted = set(linked)
