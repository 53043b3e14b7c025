"""A 6000×4000 photo with 200 boxes: shown from a screen-sized preview, and an edit redraws one
box, not two hundred."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from dclip_app.annotate.window import AnnotateWindow
from dclip_core.library import Library
from dclip_core.library.annotations import Annotations
from dclip_core.library.scanner import content_hash
from dclip_core.library.store import LibraryStore, NewImage
from tests.helpers.images import sample_photo

pytestmark = pytest.mark.gui
WIDTH, HEIGHT = 6000, 4000


def large_photo_library(tmp_path: Path) -> tuple[Path, int]:
    photos, library_dir = tmp_path / "photos", tmp_path / "library"
    photos.mkdir()
    path = photos / "big.jpg"
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
