"""The results grid: a ``QListView`` in icon mode, painted by :class:`ResultDelegate`.

Cells are uniform (fast layout for 100k results); the delegate paints a thumbnail from the
:class:`~dclip_app.thumbnails.ThumbnailCache` (a placeholder until it arrives), the file name, and a
score badge — blue above the relevance cutoff, grey and dimmed below it — plus the separator row.
When the library is indexed with regions and a crop of the photo matched better than the whole,
that crop is outlined on the thumbnail (:func:`paint_region`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QKeyEvent, QPainter, QPalette, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)
from shiboken6 import isValid

from dclip_app.resources import icon
from dclip_app.results_model import (
    HIT_ROLE,
    KIND_ROLE,
    SEPARATOR_COLUMN_ROLE,
    CellKind,
    ResultsModel,
    SearchHit,
)
from dclip_app.thumbnails import ThumbnailCache, ThumbnailState

_Index = QModelIndex | QPersistentModelIndex

THUMB_EDGE = 160
CELL_MARGIN = 8
TEXT_HEIGHT = 20
CELL_SIZE = QSize(THUMB_EDGE + 2 * CELL_MARGIN, THUMB_EDGE + TEXT_HEIGHT + 2 * CELL_MARGIN)

RELEVANT_BADGE = QColor("#2f6fb3")
WEAK_BADGE = QColor("#8a939f")
PLACEHOLDER = QColor("#e6e9ee")
SELECTION = QColor("#d6e4f5")
SELECTION_BORDER = QColor("#2f6fb3")
SEPARATOR_INK = QColor("#8a939f")
REGION_INK = QColor("#f5a623")


def paint_region(
    painter: QPainter, photo: QRect, region: tuple[float, float, float, float] | None
) -> None:
    """Outline ``region`` (fractions of the photo) on a photo drawn into ``photo``.

    A dark halo under a bright line keeps the outline visible on light and dark photos alike.
    """
    if region is None:
        return
    left, top, right, bottom = region
    box = QRectF(
        photo.x() + left * photo.width(),
        photo.y() + top * photo.height(),
        (right - left) * photo.width(),
        (bottom - top) * photo.height(),
    ).adjusted(1.5, 1.5, -1.5, -1.5)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(QColor(0, 0, 0, 140), 3.5))
    painter.drawRoundedRect(box, 3, 3)
    painter.setPen(QPen(REGION_INK, 2))
    painter.drawRoundedRect(box, 3, 3)
    painter.restore()


ThumbnailSources = Callable[[SearchHit], Callable[[], Sequence[Path]]]


class ResultDelegate(QStyledItemDelegate):
    """Paints one grid cell (a hit, a spacer, or a piece of the separator row)."""

    def __init__(
        self, thumbnails: ThumbnailCache, sources: ThumbnailSources, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.sources = sources
        self.separator_caption = "Below the relevance cutoff"

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:  # noqa: N802
        return CELL_SIZE

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        kind = index.data(KIND_ROLE)
        rect: QRect = option.rect
        if kind is CellKind.SEPARATOR:
            self._paint_separator(painter, rect, int(index.data(SEPARATOR_COLUMN_ROLE)))
            return
        hit = index.data(HIT_ROLE)
        if kind is not CellKind.HIT or hit is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        state = option.state
        cell = rect.adjusted(2, 2, -2, -2)
        if state & QStyle.StateFlag.State_Selected:
            painter.setPen(QPen(SELECTION_BORDER, 1.5))
            painter.setBrush(SELECTION)
            painter.drawRoundedRect(QRectF(cell), 6, 6)

        thumb_box = QRect(rect.x() + CELL_MARGIN, rect.y() + CELL_MARGIN, THUMB_EDGE, THUMB_EDGE)
        key = str(hit.path)
        thumb_state, pixmap = self.thumbnails.lookup(key, self.sources(hit))
        if not hit.relevant:
            painter.setOpacity(0.55)
        if thumb_state is ThumbnailState.READY and pixmap is not None:
            size = pixmap.size().scaled(thumb_box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(thumb_box.center())
            painter.drawPixmap(target, pixmap)
            paint_region(painter, target, getattr(hit, "region", None))
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(PLACEHOLDER)
            painter.drawRoundedRect(QRectF(thumb_box), 4, 4)
            glyph = icon("warning" if thumb_state is ThumbnailState.FAILED else "image")
            glyph_rect = QRect(0, 0, 32, 32)
            glyph_rect.moveCenter(thumb_box.center())
            painter.setOpacity(painter.opacity() * 0.5)
            glyph.paint(painter, glyph_rect)
        painter.setOpacity(1.0)

        self._paint_badge(painter, thumb_box, hit)

        text_rect = QRect(
            rect.x() + CELL_MARGIN, thumb_box.bottom() + 3, THUMB_EDGE, TEXT_HEIGHT - 2
        )
        painter.setPen(option.palette.color(QPalette.ColorRole.Text))
        name = option.fontMetrics.elidedText(
            Path(hit.path).name, Qt.TextElideMode.ElideMiddle, text_rect.width()
        )
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        painter.restore()

    def _paint_badge(self, painter: QPainter, thumb_box: QRect, hit: SearchHit) -> None:
        painter.save()
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        font.setBold(True)
        painter.setFont(font)
        text = f"{hit.score:.2f}"
        width = painter.fontMetrics().horizontalAdvance(text) + 10
        badge = QRectF(thumb_box.right() - width - 3, thumb_box.top() + 4, width, 17)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(RELEVANT_BADGE if hit.relevant else WEAK_BADGE)
        painter.drawRoundedRect(badge, 8, 8)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def _paint_separator(self, painter: QPainter, rect: QRect, column: int) -> None:
        """Each separator cell paints its slice of one full-row drawing, so paint order is moot."""
        painter.save()
        painter.setClipRect(rect)
        row_left = rect.x() - column * rect.width()
        # Near the top of the row: the rule sits right under the last good match.
        mid = rect.top() + 28
        painter.setPen(QPen(SEPARATOR_INK, 1, Qt.PenStyle.DashLine))
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        caption = f"  {self.separator_caption}  "
        caption_width = painter.fontMetrics().horizontalAdvance(caption)
        caption_left = row_left + CELL_MARGIN + 24
        painter.drawLine(row_left + CELL_MARGIN, mid, caption_left, mid)
        painter.drawLine(caption_left + caption_width, mid, rect.right(), mid)
        painter.setPen(SEPARATOR_INK)
        painter.drawText(
            QRect(caption_left, mid - 12, caption_width, 24), Qt.AlignmentFlag.AlignCenter, caption
        )
        painter.restore()


class ResultsView(QListView):
    """Grid of results with keyboard navigation; Enter opens the current image."""

    open_requested = Signal(object)  # SearchHit

    def __init__(self, delegate: ResultDelegate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ResultsView")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        # Lay 100k cells out in slices between events, so a huge result never freezes the window.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(20_000)
        self.setGridSize(CELL_SIZE)
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(CELL_SIZE.height() // 4)
        self.setItemDelegate(delegate)
        self.setMouseTracking(True)
        self._delegate = delegate
        # Coalesce thumbnail arrivals into one repaint per frame-ish instead of one per image.
        self._repaint_timer = QTimer(self)
        self._repaint_timer.setSingleShot(True)
        self._repaint_timer.setInterval(30)
        self._repaint_timer.timeout.connect(self.viewport().update)
        # The thumbnail cache may outlive this view and still deliver: the lambda checks the view
        # is alive. (A bound-method slot, or a lambda holding the timer, made PySide6 abort at
        # interpreter exit, in garbage collection.)
        delegate.thumbnails.ready.connect(
            lambda _key: self._repaint_timer.start() if isValid(self) else None
        )
        self.doubleClicked.connect(self._open_index)

    def setModel(self, model: QAbstractItemModel | None) -> None:  # noqa: N802
        super().setModel(model)
        self._sync_columns()

    def set_separator_caption(self, caption: str) -> None:
        """The words on the relevance separator (they name the cutoff of the current search)."""
        self._delegate.separator_caption = caption
        self.viewport().update()

    def results_model(self) -> ResultsModel:
        model = self.model()
        assert isinstance(model, ResultsModel)
        return model

    def columns_that_fit(self) -> int:
        """How many cells the icon-mode layout puts in one row at the current width."""
        return max(1, self.viewport().width() // CELL_SIZE.width())

    def _sync_columns(self) -> None:
        """Fit the grid to the width; the current result stays current across the re-layout
        (a model reset, which would otherwise drop it and empty the detail pane)."""
        model = self.model()
        if not isinstance(model, ResultsModel):
            return
        current = self.current_hit()
        model.set_columns(self.columns_that_fit())
        if current is not None and self.current_hit() is not current:
            position = model.hits.index(current)
            self.setCurrentIndex(model.index(model.row_of_hit(position), 0))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._sync_columns()

    def current_hit(self) -> SearchHit | None:
        index = self.currentIndex()
        return self.results_model().hit_at(index.row()) if index.isValid() else None

    def selected_hits(self) -> list[SearchHit]:
        model = self.results_model()
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        return [h for h in (model.hit_at(r) for r in rows) if h is not None]

    def select_first(self) -> None:
        model = self.model()
        if model is not None and model.rowCount() > 0:
            self.setCurrentIndex(model.index(0, 0))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._open_index(self.currentIndex())
            return
        super().keyPressEvent(event)

    def _open_index(self, index: QModelIndex) -> None:
        hit = self.results_model().hit_at(index.row())
        if hit is not None:
            self.open_requested.emit(hit)
