"""A 6000×4000 photo with 200 boxes: shown from a screen-sized preview, and an edit redraws one
box, not two hundred; zoomed in, the photo's own pixels are shown, not the preview's."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from dclip_app.annotate.window import AnnotateWindow
from dclip_app.canvas_detail import SETTLE_MS
from dclip_core.library import Library
from dclip_core.library.annotations import Annotations
from dclip_core.library.scanner import content_hash
from dclip_core.library.store import LibraryStore, NewImage
from tests.helpers.images import sample_photo

pytestmark = pytest.mark.gui
WIDTH, HEIGHT = 6000, 4000


def large_photo_library(tmp_path: Path, image: Image.Image | None = None) -> tuple[Path, int]:
    photos, library_dir = tmp_path / "photos", tmp_path / "library"
    photos.mkdir()
    path = photos / ("big.png" if image is not None else "big.jpg")
    if image is not None:
        image.save(path)
    else:
        sample_photo("coffee").resize((WIDTH, HEIGHT)).save(path, quality=80)
    store = LibraryStore(library_dir)
    root = store.add_root(str(photos))
    with store.write() as conn:
        size = path.stat().st_size
        new = NewImage(
            root.id, str(path), size, 1, content_hash(str(path), size), "ok", WIDTH, HEIGHT
        )
        image_id = store.insert_image(conn, new)
    store.close()
    return library_dir, image_id


def test_a_large_photo_with_200_boxes_stays_quick(qtbot: QtBot, tmp_path: Path) -> None:
    library_dir, image_id = large_photo_library(tmp_path)
    library = Library(library_dir)
    api = library.annotations()
    photo = api.photo(image_id)
    with api.batch("boxes") as edit:
        for i in range(200):
            x, y = (i % 20) * 290 + 10, (i // 20) * 390 + 10
            source = "detector" if i % 4 == 0 else "user"
            api.add_box_in(edit, photo, (x, y, 250, 350), f"thing{i % 7}", source=source)

    started = time.perf_counter()
    window = AnnotateWindow(library, [image_id])
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.photo_shown, timeout=20_000):
        window.show()
    shown_s = time.perf_counter() - started
    pixmap = window.canvas.photo_pixmap
    assert max(pixmap.width(), pixmap.height()) <= 2560  # never the 24 MP photo itself
    assert window.canvas.sceneRect().width() == WIDTH  # boxes in full-size pixels
    assert len(window.canvas.boxes) == 200

    items_before = {item.index: item for item in window.canvas.boxes}
    target = next(b for b in window.session.state.boxes.values() if b.status == "accepted")
    started = time.perf_counter()
    for step in range(10):
        window.session.move_box(target.id, (target.x + step + 1, target.y, 250, 350))
        window.canvas.viewport().repaint()
    edit_ms = (time.perf_counter() - started) / 10 * 1000
    items_after = {item.index: item for item in window.canvas.boxes}
    assert items_after == items_before  # the same item objects: nothing re-created
    assert items_after[target.id].rect().x() == target.x + 10
    window.session.undo()
    stored = {b.id: b for b in Annotations(LibraryStore(library_dir)).boxes(image_id)}
    assert stored[target.id].x == target.x + 9
    print(f"shown in {shown_s:.2f} s, one edit + repaint {edit_ms:.1f} ms")
    assert shown_s < 10
    assert edit_ms < 250
    window.close()
    library.close()


def _row(image: QImage, y: int) -> np.ndarray:
    """Grey values of row ``y`` of a view's grab."""
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    return np.array([image.pixelColor(x, y).value() for x in range(image.width())])


def test_zoomed_in_the_photos_own_pixels_are_shown_where_they_belong(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """Left half white, right half one-pixel black and white stripes: the preview blurs the
    stripes to grey, the full-size photo shows them, starting exactly at the middle."""
    pixels = np.full((HEIGHT, WIDTH), 255, dtype=np.uint8)
    pixels[:, WIDTH // 2 :: 2] = 0
    library_dir, image_id = large_photo_library(tmp_path, Image.fromarray(pixels))
    library = Library(library_dir)
    window = AnnotateWindow(library, [image_id])
    qtbot.addWidget(window)
    window.resize(1000, 700)
    with qtbot.waitSignal(window.photo_shown, timeout=20_000):
        window.show()
    canvas = window.canvas
    assert max(canvas.photo_pixmap.width(), canvas.photo_pixmap.height()) <= 2560
    assert not canvas.detail.asked  # fitted, the preview is sharp enough: nothing decoded

    with qtbot.waitSignal(canvas.detail_wanted, timeout=5_000):
        window.key_actions["actual_size"].trigger()  # 100 %: one photo pixel per screen pixel
    canvas.centerOn(QPointF(WIDTH / 2, HEIGHT / 2))
    qtbot.waitUntil(canvas.detail.item.isVisible, timeout=20_000)
    qtbot.wait(3 * SETTLE_MS)  # the crop follows the last scroll
    middle = canvas.mapFromScene(QPointF(WIDTH / 2, HEIGHT / 2))
    sharp = _row(canvas.viewport().grab().toImage(), middle.y())
    canvas.detail.item.setVisible(False)  # what the preview alone shows
    blurred = _row(canvas.viewport().grab().toImage(), middle.y())
    canvas.detail.item.setVisible(True)

    stripes = slice(middle.x() + 2, middle.x() + 200)
    assert np.abs(np.diff(sharp[stripes])).mean() > 200  # black, white, black…
    assert np.abs(np.diff(blurred[stripes])).mean() < 60  # the preview's grey
    assert sharp[middle.x() - 200 : middle.x() - 2].min() > 240  # white up to the middle
    assert sharp[middle.x() + 1 : middle.x() + 3].min() < 20  # the first stripe: at the middle

    stepped = canvas.detail.crop_rect
    canvas.fit()  # zoomed out again: the layer hides, the full-size photo is kept for later
    qtbot.waitUntil(lambda: not canvas.detail.item.isVisible(), timeout=5_000)
    assert canvas.detail.source is not None
    assert stepped.width() < WIDTH  # only the visible part (and a margin) was ever a pixmap

    small = QImage(100, 80, QImage.Format.Format_RGB32)
    small.fill(0)
    # A photo no larger than its copy (a file given, so only the size stops the decode): fitted
    # in the window it is already enlarged, and more so zoomed in, but nothing is sharper.
    with qtbot.assertNotEmitted(canvas.detail_wanted):
        canvas.set_photo(small, (100, 80), tmp_path / "photos" / "big.png")
        canvas.zoom_by(8.0)
    assert not canvas.detail.asked
    window.close()
    library.close()
