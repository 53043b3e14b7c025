"""A photo with boxes on it, zoomable and pannable: what the visualizer (and annotation) draw on.

- Scene coordinates are pixels of the full-size upright photo, the unit the core reports boxes
  in, so a box from :mod:`dclip_core.explain` (or an annotation) goes on as it is. The photo
  itself is a display-size copy (:func:`dclip_core.explain.display_copy`) scaled up to that size.
- Wheel zooms about the cursor, dragging the background pans, :meth:`PhotoCanvas.fit` shows the
  whole photo (and keeps it fitted while the window resizes, until the user zooms), and
  :meth:`PhotoCanvas.actual_size` shows one photo pixel per screen pixel (100 %).
- Boxes are :class:`~dclip_app.canvas_items.BoxItem` s (outline, fill, a tag with label and
  confidence that keeps its size at any zoom, a tooltip); a click (press and release without
  dragging) emits :attr:`PhotoCanvas.box_clicked`, hovering :attr:`PhotoCanvas.box_hovered`.
- Spotlight dims the photo; each box then shows the photo through the dimming as much as its
  ``reveal`` (0..1) says, so the strongest regions stand out.
- Zoomed past the copy's resolution, the canvas decodes the photo's file (when
  :meth:`PhotoCanvas.set_photo` was given it) at full size in the background, once
  (:attr:`PhotoCanvas.detail_wanted`, :mod:`dclip_app.full_photo`), and shows the visible part
  sharp (:mod:`dclip_app.canvas_detail`).
- Edit mode (annotation): :meth:`PhotoCanvas.set_tool` hands mouse presses, drags and hovers to a
  :class:`CanvasTool` first (:class:`dclip_app.annotate.edit_tool.BoxEditTool` draws, moves and
  resizes boxes); what the tool declines still pans, zooms and clicks as in view mode. One canvas,
  two modes: the visualizer has no tool (ADR 0022).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from dclip_app.canvas_detail import CanvasDetail
from dclip_app.canvas_items import BoxItem
from dclip_app.full_photo import FullPhotoLoader

ZOOM_STEP = 1.25
MIN_ZOOM = 0.02
MAX_ZOOM = 32.0
CLICK_SLOP_PX = 4
DIM_ALPHA = 175
Z_DIM = 5.0


class CanvasTool(Protocol):
    """Edit-mode mouse handling; each method returns True when it used the event."""

    def press(self, event: QMouseEvent) -> bool: ...

    def move(self, event: QMouseEvent) -> bool: ...

    def release(self, event: QMouseEvent) -> bool: ...


class PhotoCanvas(QGraphicsView):
    """A photo and its boxes; wheel zooms to the cursor, drag pans, fit and 100 % on demand."""

    box_clicked = Signal(int)  # a box's index
    background_clicked = Signal()
    box_hovered = Signal(int)  # a box's index, -1 when the pointer left every box
    zoom_changed = Signal(float)  # screen pixels per photo pixel
    detail_wanted = Signal()  # zoomed past the copy: the full-size photo is being decoded

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("PhotoCanvas")
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(
            QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform
        )
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor(38, 38, 42))
        self.photo_item = QGraphicsPixmapItem()
        self.photo_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.photo_item)
        self.dim_item = QGraphicsRectItem()
        self.dim_item.setBrush(QColor(0, 0, 0, DIM_ALPHA))
        self.dim_item.setPen(Qt.PenStyle.NoPen)
        self.dim_item.setZValue(Z_DIM)
        self.dim_item.setVisible(False)
        self.scene().addItem(self.dim_item)
        self.boxes: list[BoxItem] = []
        self.photo_size = (0, 0)
        self._fitted = True
        self._press: QPoint | None = None
        self._hovered: set[int] = set()
        self.tool: CanvasTool | None = None
        self._tool_drag = False
        self.detail = CanvasDetail(self)
        self.photo_path: str | None = None
        self.full_photo = FullPhotoLoader(parent=self)
        self.full_photo.ready.connect(self._full_photo_ready)
        self.zoom_changed.connect(lambda _zoom: self._view_changed())
        self.horizontalScrollBar().valueChanged.connect(lambda _value: self._view_changed())
        self.verticalScrollBar().valueChanged.connect(lambda _value: self._view_changed())

    # --- content -----------------------------------------------------------------------------

    def set_photo(
        self, image: QImage, full_size: tuple[int, int], path: str | Path | None = None
    ) -> None:
        """Show ``image`` (a display-size copy) as a photo of ``full_size`` pixels; no boxes.

        ``path``: the photo's file, decoded at full size when the view zooms past the copy (the
        same path again keeps what was decoded; None: the copy is all there is).
        """
        self.clear_boxes()
        self.photo_path = str(path) if path is not None else None
        if self.full_photo.wanted != self.photo_path:
            self.full_photo.forget()  # another photo: the old one's full-size memory goes
        pixmap = QPixmap.fromImage(image)
        self.photo_item.setPixmap(pixmap)
        width, height = full_size
        scale_x = width / max(1, pixmap.width())
        scale_y = height / max(1, pixmap.height())
        self.photo_item.setTransform(QTransform.fromScale(scale_x, scale_y))
        self.photo_size = (width, height)
        self.detail.reset(self.photo_size, pixmap.width())
        rect = QRectF(0, 0, width, height)
        self.dim_item.setRect(rect)
        self.scene().setSceneRect(rect)
        self.fit()

    def _view_changed(self) -> None:
        detail = self.detail
        if detail.source is None and not detail.asked and detail.needed() and self.photo_path:
            detail.asked = True
            self.detail_wanted.emit()
            self.full_photo.request(self.photo_path)
        detail.schedule()

    def _full_photo_ready(self, path: str, image: QImage) -> None:
        if path == self.photo_path:
            self.detail.set_source(image)

    def shutdown(self) -> None:
        """Stop a full-size decode in flight (the window is closing)."""
        self.full_photo.shutdown()

    @property
    def photo_pixmap(self) -> QPixmap:
        return self.photo_item.pixmap()

    @property
    def photo_scale(self) -> tuple[float, float]:
        """Full-size photo pixels per display-copy pixel."""
        pixmap = self.photo_item.pixmap()
        if pixmap.isNull():
            return (1.0, 1.0)
        return (
            self.photo_size[0] / pixmap.width(),
            self.photo_size[1] / pixmap.height(),
        )

    def add_box(self, box: BoxItem) -> BoxItem:
        box.on_hover = self._box_hover
        self.scene().addItem(box)
        self.boxes.append(box)
        return box

    def remove_box(self, box: BoxItem) -> None:
        box.on_hover = None
        self._hovered.discard(box.index)
        self.scene().removeItem(box)
        self.boxes.remove(box)

    def set_tool(self, tool: CanvasTool | None) -> None:
        """Edit mode with ``tool`` (None: view mode, as the visualizer uses the canvas)."""
        self.tool = tool

    def clear_boxes(self) -> None:
        for box in self.boxes:
            box.on_hover = None
            self.scene().removeItem(box)
        self.boxes = []
        self._hovered.clear()

    def set_spotlight(self, on: bool) -> None:
        """Dim the photo (boxes reveal it by their own ``reveal``, through :meth:`paint_photo`)."""
        self.dim_item.setVisible(on)

    def paint_photo(self, painter: QPainter, rect: QRectF) -> None:
        """Draw the photo's pixels of ``rect`` (scene, i.e. full-size photo pixels) into it, as
        sharp as the view shows them: the copy, and the full-size crop where it covers ``rect``
        (each pixel drawn once, so a half-transparent painter blends it once)."""
        pixmap = self.photo_item.pixmap()
        if pixmap.isNull() or rect.isEmpty():
            return
        covered = self.detail.paint_into(painter, rect)
        if covered == rect:
            return
        painter.save()
        if not covered.isEmpty():  # the copy only where the sharp crop is not
            outside = QPainterPath()
            outside.addRect(rect)
            inside = QPainterPath()
            inside.addRect(covered)
            painter.setClipPath(outside.subtracted(inside), Qt.ClipOperation.IntersectClip)
        sx, sy = self.photo_scale
        source = QRectF(rect.x() / sx, rect.y() / sy, rect.width() / sx, rect.height() / sy)
        painter.drawPixmap(rect, pixmap, source)
        painter.restore()

    @property
    def spotlight(self) -> bool:
        return self.dim_item.isVisible()

    # --- zoom and pan ------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        """Screen pixels per full-size photo pixel."""
        return float(self.transform().m11())

    def fit(self) -> None:
        """The whole photo in view; it stays fitted as the view resizes until the user zooms."""
        self._fitted = True
        if self.photo_size[0] > 0:
            self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        """One photo pixel per screen pixel (100 %), centred where the view was."""
        centre = self.mapToScene(self.viewport().rect().center())
        self._fitted = False
        self.resetTransform()
        self.centerOn(centre)
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` (clamped to 2 %..3200 %) keeping ``anchor`` (view px) in place."""
        target = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM)
        factor = target / self.zoom if self.zoom > 0 else 1.0
        if factor == 1.0:
            return
        self._fitted = False
        point = anchor.toPoint() if anchor is not None else self.viewport().rect().center()
        before = self.mapToScene(point)
        previous = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        self.setTransformationAnchor(previous)
        # Scroll so the scene point that was under the anchor is under it again.
        shift = self.mapToScene(point) - before
        self.centerOn(self.mapToScene(self.viewport().rect().center()) - shift)
        self.zoom_changed.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(ZOOM_STEP**steps, event.position())
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fitted and self.photo_size[0] > 0:
            self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom)
        else:
            self._view_changed()

    # --- clicks and hover ----------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.tool is not None and self.tool.press(event):
            self._tool_drag = True
            event.accept()
            return
        self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.tool is not None and (self.tool.move(event) or self._tool_drag):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._tool_drag:
            self._tool_drag = False
            if self.tool is not None:
                self.tool.release(event)
            event.accept()
            return
        press, self._press = self._press, None
        position = event.position().toPoint()
        super().mouseReleaseEvent(event)
        if press is None or (position - press).manhattanLength() > CLICK_SLOP_PX:
            return  # a drag: the view panned
        box = self.box_at(position)
        if box is not None:
            self.box_clicked.emit(box.index)
        else:
            self.background_clicked.emit()

    def box_at(self, position: QPoint) -> BoxItem | None:
        """The smallest box under ``position`` (view pixels): the most specific region."""
        hits = [item for item in self.items(position) if isinstance(item, BoxItem)]
        if not hits:
            parents = [item.parentItem() for item in self.items(position)]
            hits = [item for item in parents if isinstance(item, BoxItem)]
        if not hits:
            return None
        return min(hits, key=lambda b: b.rect().width() * b.rect().height())

    def _box_hover(self, index: int, entered: bool) -> None:
        if entered:
            self._hovered.add(index)
        else:
            self._hovered.discard(index)
        if self._hovered:
            smallest = min(
                (b for b in self.boxes if b.index in self._hovered),
                key=lambda b: b.rect().width() * b.rect().height(),
            )
            self.box_hovered.emit(smallest.index)
        else:
            self.box_hovered.emit(-1)

    def render_image(self) -> QImage:
        """The photo and its boxes as an image at the display copy's resolution (for export)."""
        pixmap = self.photo_item.pixmap()
        width, height = max(1, pixmap.width()), max(1, pixmap.height())
        image = QImage(width, height, QImage.Format.Format_RGB32)
        image.fill(QColor(0, 0, 0))
        painter = QPainter(image)
        painter.setRenderHints(
            QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform
        )
        self.scene().render(painter, QRectF(0, 0, width, height), self.sceneRect())
        painter.end()
        return image
