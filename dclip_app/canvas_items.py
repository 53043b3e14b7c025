"""What goes on a :class:`~dclip_app.photo_canvas.PhotoCanvas`: labelled boxes in photo pixels.

A :class:`BoxItem` is a region or an annotation: an outline whose width stays the same on screen
at any zoom (dashed for a suggestion waiting for review), a fill, a :class:`BoxTag` with its label
and confidence that keeps its size, and a hover callback. Under the canvas's spotlight it paints the
photo through the dimming as much as its ``reveal`` says. In the canvas's edit mode the selected
box shows :class:`HandleItem` s at its corners and edges, which the edit tool drags.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsSceneHoverEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from dclip_app.annotate.geometry import HANDLES, handle_points

NEUTRAL_OUTLINE = QColor(255, 255, 255)
SELECTED_OUTLINE = QColor(255, 64, 160)
Z_BOX = 10.0
HANDLE_PX = 9  # side of a resize handle on screen

# Draws the photo's pixels of a rectangle (photo pixels) into it: PhotoCanvas.paint_photo.
PhotoPainter = Callable[[QPainter, QRectF], None]


class BoxTag(QGraphicsItem):
    """A box's label: text on a dark plate, the same size at every zoom.

    Its rectangle is measured once per text: the scene asks for it several times per paint, and
    with hundreds of boxes measuring text each time was a fifth of a repaint. It is drawn once per
    text into a pixmap at screen resolution (it has the same size at every zoom, so zooming does
    not redraw it); repaints copy the pixmap (docs/benchmarks.md, "App").
    """

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._font = QFont()
        self._font.setPointSizeF(8.5)
        self._text = ""
        self._above = False
        self._rect = QRectF()
        self._measure()

    @property
    def text(self) -> str:
        return self._text

    def set_text(self, text: str) -> None:
        self.prepareGeometryChange()
        self._text = text
        self._measure()
        self.update()

    @property
    def above(self) -> bool:
        """True: the plate hangs down from the anchor's bottom (the whole photo's box)."""
        return self._above

    @above.setter
    def above(self, value: bool) -> None:
        if value != self._above:
            self.prepareGeometryChange()
            self._above = value
            self._measure()

    def _measure(self) -> None:
        metrics = QFontMetricsF(self._font)
        width = metrics.horizontalAdvance(self._text) + 8
        height = metrics.height() + 4
        self._rect = QRectF(0, -height if self._above else 0, width, height)

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(self._rect)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        if not self._text:
            return
        rect = self.boundingRect()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(rect, 3, 3)
        painter.setFont(self._font)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(rect.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignVCenter, self._text)


class HandleItem(QGraphicsRectItem):
    """A resize handle: a small square of the same size on screen at every zoom."""

    def __init__(self, name: str, parent: QGraphicsItem) -> None:
        half = HANDLE_PX / 2
        super().__init__(QRectF(-half, -half, HANDLE_PX, HANDLE_PX), parent)
        self.name = name
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setBrush(QColor(255, 255, 255))
        pen = QPen(SELECTED_OUTLINE, 1.5)
        pen.setCosmetic(True)
        self.setPen(pen)


class BoxItem(QGraphicsRectItem):
    """One box on the photo, in full-size photo pixels.

    Args:
        index: the caller's index for the box (a region's index in its explanation).
        rect: the box in full-size photo pixels.
        label: what it is (a detector class, "top left", an annotation's label).
        confidence: shown after the label when given (a detector's score).
        outline_only: never filled (the whole photo: a fill would cover everything).
    """

    def __init__(
        self,
        index: int,
        rect: QRectF,
        label: str,
        confidence: float | None = None,
        *,
        outline_only: bool = False,
    ) -> None:
        super().__init__(rect)
        self.index = index
        self.label = label
        self.confidence = confidence
        self.outline_only = outline_only
        self.colour = QColor(NEUTRAL_OUTLINE)
        self.reveal = 0.0
        self.selected = False
        self.dashed = False
        self.handles: list[HandleItem] = []
        self.on_hover: Callable[[int, bool], None] | None = None
        self._photo: PhotoPainter | None = None
        self.setAcceptHoverEvents(True)
        self.setZValue(Z_BOX)
        self.tag = BoxTag(self)
        self.tag.above = outline_only
        self.tag.setPos(rect.bottomLeft() if outline_only else rect.topLeft())
        self.set_detail("")
        self.clear_colour()

    @property
    def caption(self) -> str:
        """Label and confidence, as the tag starts."""
        if self.confidence is None:
            return self.label
        return f"{self.label} {self.confidence:.2f}"

    def set_detail(self, detail: str) -> None:
        """Text after the caption in the tag (a weight, say)."""
        self.tag.set_text(f"{self.caption} · {detail}" if detail else self.caption)

    def set_colour(self, rgb: tuple[int, int, int], alpha: int) -> None:
        """Outline in ``rgb``; filled with it at ``alpha`` (0..255) unless outline-only."""
        self.colour = QColor(*rgb)
        fill = QColor(*rgb, 0 if self.outline_only else alpha)
        self.setBrush(QBrush(fill))
        self._apply_pen()

    def clear_colour(self) -> None:
        self.colour = QColor(NEUTRAL_OUTLINE)
        self.setBrush(Qt.BrushStyle.NoBrush)
        self._apply_pen()

    def fill_colour(self) -> QColor:
        return self.brush().color() if self.brush().style() != Qt.BrushStyle.NoBrush else QColor()

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        self._apply_pen()

    def set_dashed(self, dashed: bool) -> None:
        """A dashed outline: a suggestion, not yet accepted."""
        self.dashed = dashed
        self._apply_pen()

    def set_box_rect(self, rect: QRectF) -> None:
        """Move or resize the box (full-size photo pixels); its tag and handles follow."""
        self.setRect(rect)
        self.tag.setPos(rect.bottomLeft() if self.outline_only else rect.topLeft())
        if self.handles:
            self._place_handles()

    def show_handles(self, visible: bool) -> None:
        """Resize handles at the corners and edge middles (edit mode, selected box)."""
        if visible and not self.handles:
            self.handles = [HandleItem(name, self) for name in HANDLES]
            self._place_handles()
        elif not visible and self.handles:
            scene = self.scene()
            for handle in self.handles:
                if scene is not None:
                    scene.removeItem(handle)  # takes it off this box as well
                else:
                    handle.setParentItem(None)
            self.handles = []

    def _place_handles(self) -> None:
        rect = self.rect()
        points = handle_points((rect.x(), rect.y(), rect.width(), rect.height()))
        for handle in self.handles:
            handle.setPos(*points[handle.name])

    def set_spotlight(self, photo: PhotoPainter | None, reveal: float) -> None:
        """Show the photo inside the box through the dimming at ``reveal`` (0..1), drawn by
        ``photo`` (None: not under the spotlight)."""
        self._photo = photo
        self.reveal = max(0.0, min(1.0, reveal))
        self.update()

    def _apply_pen(self) -> None:
        colour = SELECTED_OUTLINE if self.selected else self.colour
        pen = QPen(colour, 4 if self.selected else 2)
        pen.setCosmetic(True)  # the same width on screen at every zoom
        if self.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        if self._photo is not None and self.reveal > 0 and not self.outline_only:
            painter.save()
            painter.setOpacity(self.reveal)
            self._photo(painter, self.rect())
            painter.restore()
        super().paint(painter, option, widget)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:  # noqa: N802
        if self.on_hover is not None:
            self.on_hover(self.index, True)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:  # noqa: N802
        if self.on_hover is not None:
            self.on_hover(self.index, False)
        super().hoverLeaveEvent(event)
