"""The canvas's edit mode: draw a box by dragging, select, move and resize by its handles.

:class:`BoxEditTool` is a :class:`~dclip_app.photo_canvas.CanvasTool`. While the user drags it only
moves the box's item (cheap, nothing written); on release it says what the user did
(:attr:`~BoxEditTool.drawn`, :attr:`~BoxEditTool.changed`) in photo pixels, and the window turns
that into one core edit and one undo step. Geometry comes from :mod:`.geometry`, so every box
stays inside the photo. A press on the background in select mode is declined: the canvas pans.

"New box" is one-shot: after a box is drawn the tool is back in select mode with the new box
selected, ready for its label or a resize.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsView

from dclip_app.annotate import geometry
from dclip_app.annotate.geometry import Rect
from dclip_app.canvas_items import BoxItem
from dclip_app.photo_canvas import PhotoCanvas

HANDLE_SLOP_PX = 7  # how near a handle a press grabs it, in screen pixels
MIN_BOX_PX = 4  # a drag shorter than this (on screen) draws nothing: it was a click
DRAW_COLOUR = QColor(255, 214, 0)
HANDLE_CURSORS = {
    "top_left": Qt.CursorShape.SizeFDiagCursor,
    "bottom_right": Qt.CursorShape.SizeFDiagCursor,
    "top_right": Qt.CursorShape.SizeBDiagCursor,
    "bottom_left": Qt.CursorShape.SizeBDiagCursor,
    "top": Qt.CursorShape.SizeVerCursor,
    "bottom": Qt.CursorShape.SizeVerCursor,
    "left": Qt.CursorShape.SizeHorCursor,
    "right": Qt.CursorShape.SizeHorCursor,
}


def rect_of(item: BoxItem) -> Rect:
    r = item.rect()
    return (r.x(), r.y(), r.width(), r.height())


class BoxEditTool(QObject):
    """Draw, select, move and resize boxes on a canvas whose box indices are box ids."""

    drawn = Signal(object)  # Rect: a new box, photo pixels
    changed = Signal(int, object)  # box id, its new Rect
    selection_changed = Signal(int)  # box id, -1: none
    drawing_changed = Signal(bool)

    def __init__(self, canvas: PhotoCanvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.drawing = False
        self.selected: int | None = None
        self._mode: str | None = None  # "draw", "move", "resize" while a button is down
        self._start = QPointF()
        self._original: Rect = (0, 0, 0, 0)
        self._handle = ""
        self._rubber = QGraphicsRectItem()
        pen = QPen(DRAW_COLOUR, 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self._rubber.setPen(pen)
        self._rubber.setZValue(100)
        self._rubber.setVisible(False)
        canvas.scene().addItem(self._rubber)
        canvas.set_tool(self)

    # --- state -------------------------------------------------------------------------------

    def item(self, box_id: int | None) -> BoxItem | None:
        return next((b for b in self.canvas.boxes if b.index == box_id), None)

    def set_drawing(self, on: bool) -> None:
        """Arm (or disarm) "new box": the next drag on the photo draws one."""
        if on == self.drawing:
            return
        self.drawing = on
        self.canvas.setDragMode(
            QGraphicsView.DragMode.NoDrag if on else QGraphicsView.DragMode.ScrollHandDrag
        )
        self.canvas.viewport().setCursor(
            Qt.CursorShape.CrossCursor if on else Qt.CursorShape.OpenHandCursor
        )
        self.drawing_changed.emit(on)

    def select(self, box_id: int | None, *, notify: bool = True) -> None:
        """Select a box (outline, handles, on top); None: nothing selected."""
        previous = self.item(self.selected)
        if previous is not None:
            previous.set_selected(False)
            previous.show_handles(False)
            previous.setZValue(10.0)
        item = self.item(box_id)
        self.selected = box_id if item is not None else None
        if item is not None:
            item.set_selected(True)
            item.show_handles(True)
            item.setZValue(20.0)
        if notify:
            self.selection_changed.emit(-1 if self.selected is None else self.selected)

    def cancel(self) -> None:
        """Esc: abandon a drag in progress (the box goes back) or leave "new box"."""
        if self._mode in ("move", "resize"):
            item = self.item(self.selected)
            if item is not None:
                item.set_box_rect(QRectF(*self._original))
        self._mode = None
        self._rubber.setVisible(False)
        self.set_drawing(False)

    # --- mouse -------------------------------------------------------------------------------

    def _scene(self, event: QMouseEvent) -> QPointF:
        return self.canvas.mapToScene(event.position().toPoint())

    def _handle_at(self, event: QMouseEvent) -> str | None:
        item = self.item(self.selected)
        if item is None:
            return None
        position = event.position()
        best, best_distance = None, float(HANDLE_SLOP_PX)
        for name, (x, y) in geometry.handle_points(rect_of(item)).items():
            on_screen = self.canvas.mapFromScene(QPointF(x, y))
            distance = max(abs(on_screen.x() - position.x()), abs(on_screen.y() - position.y()))
            if distance <= best_distance:
                best, best_distance = name, distance
        return best

    def press(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self.canvas.photo_size[0] <= 0:
            return False
        self._start = self._scene(event)
        if self.drawing:
            self._mode = "draw"
            self._rubber.setRect(QRectF(self._start, self._start))
            self._rubber.setVisible(True)
            return True
        handle = self._handle_at(event)
        if handle is not None:
            item = self.item(self.selected)
            assert item is not None
            self._mode, self._handle, self._original = "resize", handle, rect_of(item)
            return True
        box = self.canvas.box_at(event.position().toPoint())
        if box is None:
            self.select(None)
            return False  # the canvas pans
        if box.index != self.selected:
            self.select(box.index)
        self._mode, self._original = "move", rect_of(box)
        return True

    def move(self, event: QMouseEvent) -> bool:
        if self._mode is None:
            self._hover_cursor(event)
            return False
        point = self._scene(event)
        size = self.canvas.photo_size
        if self._mode == "draw":
            x, y, w, h = geometry.drawn(
                (self._start.x(), self._start.y()), (point.x(), point.y()), size
            )
            self._rubber.setRect(QRectF(x, y, w, h))
            return True
        item = self.item(self.selected)
        if item is None:
            return True
        if self._mode == "move":
            delta = point - self._start
            rect = geometry.moved(self._original, delta.x(), delta.y(), size)
        else:
            rect = geometry.resized(self._original, self._handle, (point.x(), point.y()), size)
        item.set_box_rect(QRectF(*rect))
        return True

    def release(self, event: QMouseEvent) -> bool:
        mode, self._mode = self._mode, None
        size = self.canvas.photo_size
        if mode == "draw":
            self._rubber.setVisible(False)
            r = self._rubber.rect()
            rect = geometry.rounded((r.x(), r.y(), r.width(), r.height()), size)
            self.set_drawing(False)
            zoom = self.canvas.zoom
            if rect[2] * zoom >= MIN_BOX_PX and rect[3] * zoom >= MIN_BOX_PX:
                self.drawn.emit(rect)
            return True
        if mode in ("move", "resize") and self.selected is not None:
            item = self.item(self.selected)
            if item is not None:
                rect = geometry.rounded(rect_of(item), size)
                if rect != geometry.rounded(self._original, size):
                    self.changed.emit(self.selected, rect)
            return True
        return False

    def _hover_cursor(self, event: QMouseEvent) -> None:
        if self.drawing:
            return
        handle = self._handle_at(event)
        if handle is not None:
            self.canvas.viewport().setCursor(HANDLE_CURSORS[handle])
        elif self.canvas.box_at(event.position().toPoint()) is not None:
            self.canvas.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
        else:
            self.canvas.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
