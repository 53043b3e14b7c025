"""Sharp pixels where the canvas zooms past its screen-sized copy of the photo.

:class:`~dclip_app.photo_canvas.PhotoCanvas` shows a copy of the photo that fits the screen, so a
6000×4000 photo is at most 2560 pixels wide there: at "100 %" each of its pixels would be 2.3
screen pixels wide, blurred. Once the view zooms past the copy's resolution the canvas decodes
the photo's file at full size once, in the background (:mod:`dclip_app.full_photo`), and hands
it to this layer (:meth:`CanvasDetail.set_source`). From then on the layer lays a crop of it
over the visible part of the photo — the view plus a margin, at most the screen's resolution —
and crops again, shortly after the view stops zooming or panning. Only the
crop becomes a pixmap, never the whole photo, so painting stays as cheap as with the copy.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsView

# Above the photo's copy, below the spotlight's dimming and the boxes.
Z_DETAIL = 1.0
# The crop reaches this share of the view's size beyond each edge, so a short pan stays sharp;
# less when zoomed out (times the zoom squared), where every crop pixel must also be scaled down.
MARGIN = 0.5
# Wait this long after the last zoom or scroll before cropping again.
SETTLE_MS = 60
# The copy counts as sharp enough up to this many screen pixels per pixel of it.
SHARP_UP_TO = 1.1


class CanvasDetail(QObject):
    """The detail layer of one canvas (its scene holds :attr:`item`).

    Scene coordinates are full-size photo pixels; the source may be smaller than the photo (a
    decode capped for memory), so crops are taken in source pixels and scaled back.
    """

    def __init__(self, view: QGraphicsView) -> None:
        super().__init__(view)
        self.view = view
        self.item = QGraphicsPixmapItem()
        self.item.setZValue(Z_DETAIL)
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.item.setVisible(False)
        view.scene().addItem(self.item)
        self.photo_size = (0, 0)
        self.copy_width = 0
        self.source: QImage | None = None
        self.asked = False  # the owner was asked for the source of this photo
        self.crop_rect = QRect()  # the source pixels the item shows now
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(SETTLE_MS)
        self.timer.timeout.connect(self.refresh)

    def reset(self, photo_size: tuple[int, int], copy_width: int) -> None:
        """A new photo of ``photo_size`` pixels shown from a copy ``copy_width`` pixels wide."""
        self.photo_size = photo_size
        self.copy_width = copy_width
        self.asked = False
        self.set_source(None)

    def needed(self) -> bool:
        """Whether the view enlarges the copy past :data:`SHARP_UP_TO` screen px per its px,
        and the photo has more pixels than the copy (a small photo's copy is the photo)."""
        if self.copy_width <= 0 or self.copy_width >= self.photo_size[0]:
            return False
        zoom = float(self.view.transform().m11())
        return zoom * self.photo_size[0] / self.copy_width > SHARP_UP_TO

    def set_source(self, image: QImage | None) -> None:
        """The full-size photo (upright), or None to drop it."""
        self.source = image if image is not None and not image.isNull() else None
        self.crop_rect = QRect()
        self.item.setPixmap(QPixmap())
        self.item.setVisible(False)
        if self.source is not None:
            self.refresh()

    def schedule(self) -> None:
        """Crop again once the view has settled (called on every zoom and scroll)."""
        if self.source is not None:
            self.timer.start()

    def refresh(self) -> None:
        """Show the visible part of the photo from :attr:`source`; hide it where the copy is
        sharp enough."""
        source = self.source
        if source is None or self.photo_size[0] <= 0:
            return
        if not self.needed():
            self.item.setVisible(False)
            return
        # Source pixels per scene (full-size photo) pixel, and screen pixels per source pixel.
        per_x = source.width() / self.photo_size[0]
        per_y = source.height() / self.photo_size[1]
        zoom = float(self.view.transform().m11()) / per_x
        visible = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        margin = MARGIN * min(1.0, zoom) ** 2
        margin_x, margin_y = visible.width() * margin, visible.height() * margin
        wanted = visible.adjusted(-margin_x, -margin_y, margin_x, margin_y)
        in_source = QRectF(
            wanted.x() * per_x, wanted.y() * per_y, wanted.width() * per_x, wanted.height() * per_y
        )
        rect = in_source.toAlignedRect().intersected(source.rect())
        if rect.isEmpty():
            self.item.setVisible(False)
            return
        if rect == self.crop_rect:
            self.item.setVisible(True)
            return
        crop = source.copy(rect)
        if zoom < 1.0:
            # Never more pixels than the screen shows: zoomed out, the crop is scaled down.
            crop = crop.scaled(
                max(1, round(rect.width() * zoom)),
                max(1, round(rect.height() * zoom)),
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        self.item.setPixmap(QPixmap.fromImage(crop))
        self.item.setTransform(
            QTransform.fromScale(
                rect.width() / crop.width() / per_x, rect.height() / crop.height() / per_y
            )
            * QTransform.fromTranslate(rect.x() / per_x, rect.y() / per_y)
        )
        self.crop_rect = rect
        self.item.setVisible(True)

    def covered(self, rect: QRectF) -> QRectF:
        """The part of ``rect`` (scene) the layer shows sharp now; empty when it shows nothing."""
        pixmap = self.item.pixmap()
        if not self.item.isVisible() or pixmap.isNull():
            return QRectF()
        return rect.intersected(self.item.transform().mapRect(QRectF(pixmap.rect())))

    def paint_into(self, painter: QPainter, rect: QRectF) -> QRectF:
        """Draw the sharp pixels of ``rect`` (scene coordinates) that the layer has where they
        belong; return that part, :meth:`covered` (empty when it drew nothing)."""
        covered = self.covered(rect)
        if not covered.isEmpty():
            inverse, _ = self.item.transform().inverted()
            painter.drawPixmap(covered, self.item.pixmap(), inverse.mapRect(covered))
        return covered
