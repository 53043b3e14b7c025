"""The photo canvas: boxes in photo pixels, zoom to the cursor, drag to pan, fit and 100 %."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

from dclip_app.canvas_detail import SETTLE_MS
from dclip_app.canvas_items import BoxItem
from dclip_app.photo_canvas import PhotoCanvas

pytestmark = pytest.mark.gui


@pytest.fixture
def canvas(qtbot: QtBot) -> PhotoCanvas:
    view = PhotoCanvas()
    qtbot.addWidget(view)
    view.resize(500, 400)
    view.show()
    image = QImage(200, 100, QImage.Format.Format_RGB32)
    image.fill(QColor(90, 140, 200))
    # A 2000x1000 photo shown from its 200x100 display copy: boxes are in full-size pixels.
    view.set_photo(image, (2000, 1000))
    view.add_box(BoxItem(0, QRectF(0, 0, 2000, 1000), "whole photo", outline_only=True))
    view.add_box(BoxItem(1, QRectF(200, 100, 600, 400), "dog", 0.87))
    qtbot.waitExposed(view)
    return view


def test_the_photo_fills_its_full_size_and_boxes_say_label_and_confidence(
    canvas: PhotoCanvas,
) -> None:
    assert canvas.sceneRect() == QRectF(0, 0, 2000, 1000)
    assert canvas.photo_item.sceneBoundingRect() == QRectF(0, 0, 2000, 1000)
    assert canvas.photo_scale == (10.0, 10.0)
    assert canvas.boxes[1].tag.text == "dog 0.87"
    assert canvas.boxes[0].tag.text == "whole photo"
    canvas.boxes[1].set_detail("0.42")
    assert canvas.boxes[1].tag.text == "dog 0.87 · 0.42"
    # Fitted: the whole photo is visible, 500 px wide view for 2000 px of photo.
    assert canvas.zoom == pytest.approx(0.24, abs=0.02)


def test_wheel_zooms_about_the_cursor_and_fit_and_100_percent(
    qtbot: QtBot, canvas: PhotoCanvas
) -> None:
    anchor = QPointF(300, 250)
    before = canvas.mapToScene(anchor.toPoint())
    zoom = canvas.zoom
    canvas.zoom_by(2.0, anchor)
    assert canvas.zoom == pytest.approx(2 * zoom)
    after = canvas.mapToScene(anchor.toPoint())
    assert (after - before).manhattanLength() < 6 / canvas.zoom  # under the cursor (±3 px)

    canvas.actual_size()
    assert canvas.zoom == pytest.approx(1.0)
    canvas.fit()
    assert canvas.zoom == pytest.approx(zoom)
    canvas.zoom_by(1e6)
    assert canvas.zoom == pytest.approx(32.0)


def test_click_selects_a_box_and_drag_pans_instead(qtbot: QtBot, canvas: PhotoCanvas) -> None:
    canvas.zoom_by(2.0)
    inside = canvas.mapFromScene(QPointF(500, 300))
    with qtbot.waitSignal(canvas.box_clicked) as clicked:
        qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=inside)
    assert clicked.args == [1]  # the smallest box under the pointer, not the whole photo

    scroll = canvas.horizontalScrollBar().value()
    with qtbot.assertNotEmitted(canvas.box_clicked):
        qtbot.mousePress(canvas.viewport(), Qt.MouseButton.LeftButton, pos=inside)
        qtbot.mouseMove(canvas.viewport(), inside + QPoint(60, 0))
        qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.LeftButton, pos=inside + QPoint(60, 0))
    assert canvas.horizontalScrollBar().value() != scroll


def test_colours_spotlight_and_export_image(canvas: PhotoCanvas) -> None:
    box = canvas.boxes[1]
    box.set_colour((253, 231, 37), 120)
    assert rgb(box.colour) == (253, 231, 37)
    assert box.fill_colour().alpha() == 120
    canvas.boxes[0].set_colour((68, 1, 84), 200)
    assert canvas.boxes[0].fill_colour().alpha() == 0  # outline only
    canvas.set_spotlight(True)
    box.set_spotlight(canvas.paint_photo, 1.0)
    assert canvas.spotlight
    assert box.reveal == 1.0
    image = canvas.render_image()
    assert (image.width(), image.height()) == (200, 100)
    # Outside the box the photo is dimmed; inside it shows through the spotlight.
    outside, inside = QColor(image.pixel(150, 80)), QColor(image.pixel(50, 30))
    assert outside.value() < inside.value()


def test_zoomed_in_under_the_spotlight_a_box_shows_the_photos_own_pixels(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """One-pixel stripes: the screen-sized copy blurs them to grey; at 100 % the box lit by the
    spotlight shows them sharp, from the full-size photo, while the rest stays dimmed."""
    width, height = 3000, 2000
    pixels = np.full((height, width), 255, dtype=np.uint8)
    pixels[:, ::2] = 0
    path = tmp_path / "stripes.png"
    Image.fromarray(pixels).save(path)
    view = PhotoCanvas()
    qtbot.addWidget(view)
    view.resize(500, 400)
    view.show()
    copy = QImage(str(path)).scaled(300, 200)  # what the app shows until it zooms in
    view.set_photo(copy, (width, height), path)
    box = view.add_box(BoxItem(0, QRectF(1400, 900, 200, 200), "stripes"))
    view.set_spotlight(True)
    box.set_spotlight(view.paint_photo, 1.0)
    qtbot.waitExposed(view)

    view.actual_size()
    view.centerOn(QPointF(1500, 1000))
    qtbot.waitUntil(view.detail.item.isVisible, timeout=20_000)
    qtbot.wait(3 * SETTLE_MS)
    middle = view.mapFromScene(QPointF(1500, 1000))
    row = _grey_row(view.viewport().grab().toImage(), middle.y())
    inside = row[middle.x() - 90 : middle.x() + 90]
    assert np.abs(np.diff(inside.astype(int))).mean() > 150  # black, white, black…
    assert row[middle.x() + 110 : middle.x() + 200].max() < 150  # outside: dimmed

    view.detail.item.setVisible(False)  # the copy alone: grey stripes inside the box
    row = _grey_row(view.viewport().grab().toImage(), middle.y())
    assert np.abs(np.diff(row[middle.x() - 90 : middle.x() + 90].astype(int))).mean() < 40


def _grey_row(image: QImage, y: int) -> np.ndarray:
    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    return np.array([QColor(grey.pixel(x, y)).red() for x in range(grey.width())])


def rgb(colour: QColor) -> tuple[int, int, int]:
    return (colour.red(), colour.green(), colour.blue())
