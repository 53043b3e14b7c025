"""The annotation window on a large photo with many boxes: ``python -m dclip_app.bench annotate``.

Each measurement runs against a baseline in the same run, in the same process:

open
    From constructing :class:`~dclip_app.annotate.window.AnnotateWindow` (and showing it) to its
    ``photo_shown`` on a generated, noisy 6000×4000 JPEG; baseline a 1200×800 one. The 6000×4000
    photo is opened with 1 box and with 200 boxes. The first round (cold file cache) is dropped.
repaint
    Only the forced repaint (nothing changed): what each row below includes.
edit
    One box moved the way a drag ends (the edit tool's ``changed``: database write, undo step,
    the item and the box list updated), then ``processEvents()`` and a forced repaint of the
    canvas; 200 boxes on the photo against 1.
select, hover
    Select / deselect that box (canvas, box list, captions), or move the pointer onto it and off
    it again (hover events, cursor), each followed by a forced repaint; 200 boxes against 1.
zoom in
    The 6000×4000 photo (1 box) at one photo pixel per screen pixel (100 %; the photo must be
    larger than its preview, or there is nothing sharper to decode): the full-size decode the
    canvas asks for there (from ``detail_wanted`` to the sharp layer on screen, once
    per open round); a pan of 40 screen pixels plus a forced repaint with the sharp layer, against
    the same pan over the preview alone (the baseline); and the layer's re-crop after such a pan,
    at 100 % and at the least zoom that still shows full-size pixels (its largest crop, scaled down
    the most: 49 % for 6000 pixels over a 2560-pixel preview).

Offscreen (the default without a display) the screen is 2560×1440, so previews are decoded at the
size a large monitor asks for (the offscreen platform's own screen is 800×800).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from dclip_app.annotate.window import AnnotateWindow
    from dclip_core.library import Library

BIG, SMALL = (6000, 4000), (1200, 800)
SCREEN = {"name": "bench", "x": 0, "y": 0, "width": 2560, "height": 1440, "logicalDpi": 96}
COLUMNS = 20  # boxes are laid out on a grid of 20 columns over the photo


def _noisy_jpeg(path: Path, size: tuple[int, int], seed: int) -> None:
    """A photo-like JPEG: smooth colour fields (a blown-up random image) plus sensor-like noise."""
    import numpy as np
    from PIL import Image, ImageChops

    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 256, (12, 18, 3), dtype=np.uint8))
    base = base.resize(size, Image.Resampling.BICUBIC)
    noise = Image.merge("RGB", [Image.effect_noise(size, 10 + 2 * c) for c in range(3)])
    ImageChops.add(base, noise, 1.0, -128).save(path, quality=90)


def _record_photos(library_dir: Path, photos: Path, paths: list[Path]) -> list[int]:
    """Record the files as the indexer does (no model needed), as the app's tests do."""
    from PIL import Image

    from dclip_core.library.scanner import content_hash
    from dclip_core.library.store import LibraryStore, NewImage

    store = LibraryStore(library_dir)
    root = store.add_root(str(photos))
    ids = []
    with store.write() as conn:
        for path in paths:
            size = path.stat().st_size
            with Image.open(path) as image:
                width, height = image.size
            digest = content_hash(str(path), size)
            new = NewImage(root.id, str(path), size, 1, digest, "ok", width, height)
            ids.append(store.insert_image(conn, new))
    store.close()
    return ids


def box_rect(i: int, size: tuple[int, int], count: int) -> tuple[int, int, int, int]:
    """Box ``i`` of ``count``: a grid cell of 20 columns over the photo, less a gap."""
    rows = max(1, -(-count // COLUMNS))
    cell_w, cell_h = size[0] // COLUMNS, size[1] // rows
    return ((i % COLUMNS) * cell_w, (i // COLUMNS) * cell_h, cell_w * 6 // 7, cell_h * 6 // 7)


def _add_boxes(library: Library, image_id: int, count: int, grid: int) -> None:
    """``count`` boxes, one in four a detector's suggestion (dashed), seven labels."""
    api = library.annotations()
    photo = api.photo(image_id)
    with api.batch("boxes") as edit:
        for i in range(count):
            source = "detector" if i % 4 == 3 else "user"
            rect = box_rect(i, (photo.width, photo.height), grid)
            score = 0.5 if source == "detector" else None
            api.add_box_in(edit, photo, rect, f"thing{i % 7}", source=source, score=score)


def _open(app: QApplication, library: Library, image_id: int) -> tuple[AnnotateWindow, float]:
    """A shown window on ``image_id`` and the seconds from construction to ``photo_shown``."""
    from dclip_app.annotate.window import AnnotateWindow

    shown: list[int] = []
    started = time.perf_counter()
    window = AnnotateWindow(library, [image_id])
    window.photo_shown.connect(shown.append)
    window.show()
    deadline = started + 60
    while not shown:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"photo {image_id} was not shown within 60 s")
        app.processEvents()
        time.sleep(0.001)
    return window, time.perf_counter() - started


def _close(app: QApplication, window: AnnotateWindow) -> None:
    window.close()
    window.deleteLater()
    app.processEvents()


def _timed(
    app: QApplication, window: AnnotateWindow, step: Callable[[int], None], n: int
) -> list[float]:
    """Milliseconds of ``step(k)`` + ``processEvents()`` + a forced repaint, for k in 0..n (the
    first, a warm-up, is dropped)."""
    viewport = window.canvas.viewport()
    times = []
    for k in range(n + 1):
        started = time.perf_counter()
        step(k)
        app.processEvents()
        viewport.repaint()
        times.append((time.perf_counter() - started) * 1000)
    return times[1:]


def _interactions(
    app: QApplication, window: AnnotateWindow, repeats: int
) -> dict[str, list[float]]:
    """Edit, select and hover timings on the shown photo; the target is its first box."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    state = window.session.state
    target = state.boxes[min(state.boxes)]
    x, y, w, h = target.x, target.y, target.width, target.height
    size = (state.photo.width, state.photo.height)
    nudge = max(1, size[0] // 1000)

    def edit(k: int) -> None:  # what the end of a drag emits; the window writes it
        window.tool.changed.emit(target.id, (x + nudge * (k % 2 + 1), y, w, h))

    def select(k: int) -> None:
        window.tool.select(target.id if k % 2 == 0 else None)

    canvas, viewport = window.canvas, window.canvas.viewport()
    # On the box's centre, and in the gap right of it (background in every layout).
    on_box = canvas.mapFromScene(QPointF(x + w / 2, y + h / 2))
    gap = canvas.mapFromScene(QPointF(x + w * 13 / 12, y + h / 2))

    def hover(k: int) -> None:
        point = QPointF(on_box if k % 2 == 0 else gap)
        event = QMouseEvent(
            QEvent.Type.MouseMove,
            point,
            QPointF(viewport.mapToGlobal(point.toPoint())),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        app.sendEvent(viewport, event)

    hovered: list[int] = []
    canvas.box_hovered.connect(hovered.append)
    result = {
        "repaint": _timed(app, window, lambda _k: None, repeats),
        "edit": _timed(app, window, edit, repeats),
        "select": _timed(app, window, select, repeats),
        "hover": _timed(app, window, hover, repeats),
    }
    stored = window.session.annotations.boxes(state.photo.image_id)
    moved = next(b for b in stored if b.id == target.id)
    if (moved.x, moved.y) == (x, y) or target.id not in hovered:
        raise RuntimeError("the benchmark's edits or hovers did not reach the window")
    return result


def _zoomed(app: QApplication, window: AnnotateWindow, repeats: int) -> dict[str, list[float]]:
    """The ``zoom in`` rows (module docstring) on the shown photo."""
    from dclip_app.canvas_detail import SHARP_UP_TO

    canvas = window.canvas
    started = time.perf_counter()
    if canvas.photo_pixmap.width() >= canvas.photo_size[0]:
        raise ValueError(
            f"the zoom rows need a photo larger than its {canvas.photo_pixmap.width()}-pixel "
            "preview (bench_annotate's big size)"
        )
    canvas.actual_size()
    deadline = started + 60
    while not canvas.detail.item.isVisible():
        if time.perf_counter() > deadline:
            raise TimeoutError("the full-size photo did not arrive within 60 s")
        app.processEvents()
        time.sleep(0.001)
    decode_ms = (time.perf_counter() - started) * 1000
    bar = canvas.horizontalScrollBar()

    def pan(k: int) -> None:
        bar.setValue(bar.value() + (40 if k % 2 == 0 else -40))

    sharp = _timed(app, window, pan, repeats)
    def crops() -> list[float]:
        times = []
        for k in range(repeats):
            pan(k)
            canvas.detail.crop_rect = canvas.detail.crop_rect.adjusted(0, 0, 0, 1)  # force one
            crop_started = time.perf_counter()
            canvas.detail.refresh()
            times.append((time.perf_counter() - crop_started) * 1000)
        return times

    crops_100 = crops()
    # The least zoom that still shows full-size pixels: the largest crop, scaled down the most.
    least = SHARP_UP_TO * canvas.photo_pixmap.width() / canvas.photo_size[0] * 1.05
    canvas.zoom_by(least / canvas.zoom)
    crops_least = crops()
    canvas.actual_size()
    canvas.detail.item.setVisible(False)
    source, canvas.detail.source = canvas.detail.source, None  # the preview alone
    preview = _timed(app, window, pan, repeats)
    canvas.detail.source = source
    if not canvas.detail.crop_rect.isValid():
        raise RuntimeError("the sharp layer never cropped")
    return {
        "pan, preview only (baseline)": preview,
        "pan, full-size pixels": sharp,
        "re-crop after a pan": crops_100,
        "re-crop after a pan, least zoom with full-size pixels": crops_least,
        "full-size decode until shown": [decode_ms],
    }


def _qt_environ(home: Path) -> dict[str, str]:
    """Offscreen with a 2560×1440 screen, unless a display is set or Qt already runs."""
    from PySide6.QtWidgets import QApplication

    platform = os.environ.get("QT_QPA_PLATFORM", "offscreen")
    if QApplication.instance() is not None or os.environ.get("DISPLAY") or platform != "offscreen":
        return {}
    config = home / "screens.json"
    config.write_text(json.dumps({"screens": [SCREEN]}))
    return {"QT_QPA_PLATFORM": f"offscreen:configfile={config}"}


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _library(
    home: Path, boxes: int, big: tuple[int, int], small: tuple[int, int]
) -> tuple[Library, list[int]]:
    """A library of a big photo with ``boxes`` boxes, the same size with 1, and a small one."""
    from dclip_core.library import Library

    photos = home / "photos"
    photos.mkdir()
    files = [photos / "big-many.jpg", photos / "big-one.jpg", photos / "small.jpg"]
    for seed, (path, size) in enumerate(zip(files, (big, big, small), strict=True)):
        _noisy_jpeg(path, size, seed)
    ids = _record_photos(home / "library", photos, files)
    library = Library(home / "library")
    _add_boxes(library, ids[0], boxes, boxes)
    _add_boxes(library, ids[1], 1, boxes)  # the same first box, on the same grid
    return library, ids


def bench_annotate(
    repeats: int = 30,
    opens: int = 5,
    boxes: int = 200,
    big: tuple[int, int] = BIG,
    small: tuple[int, int] = SMALL,
) -> dict[str, object]:
    """Open, edit, select and hover timings (ms); see the module's docstring."""
    with tempfile.TemporaryDirectory(prefix="dclip-bench-annotate-") as tmp:
        home = Path(tmp)
        with _environ({**_qt_environ(home), "DCLIP_HOME": tmp}):
            from PySide6.QtWidgets import QApplication

            library, (many, one, little) = _library(home, boxes, big, small)
            try:
                app = QApplication.instance() or QApplication(sys.argv[:1])
                assert isinstance(app, QApplication)
                photos = {
                    f"{small[0]}×{small[1]}, 0 boxes (baseline)": (little, 0),
                    f"{big[0]}×{big[1]}, 1 box": (one, 1),
                    f"{big[0]}×{big[1]}, {boxes} boxes": (many, boxes),
                }
                return _measure(app, library, photos, repeats, opens)
            finally:
                library.close()


def _measure(
    app: QApplication,
    library: Library,
    photos: dict[str, tuple[int, int]],
    repeats: int,
    opens: int,
) -> dict[str, object]:
    open_ms: dict[str, list[float]] = {name: [] for name in photos}
    preview: tuple[int, int] = (0, 0)
    for round_ in range(opens + 1):  # the first round (cold file cache) is dropped
        for name, (image_id, _count) in photos.items():
            window, seconds = _open(app, library, image_id)
            pixmap = window.canvas.photo_pixmap
            preview = max(preview, (pixmap.width(), pixmap.height()))
            _close(app, window)
            if round_:
                open_ms[name].append(seconds * 1000)
    zoom: dict[str, list[float]] = {}
    for _round in range(max(1, opens)):
        window, _seconds = _open(app, library, list(photos.values())[1][0])
        try:
            for name, values in _zoomed(app, window, repeats).items():
                zoom.setdefault(name, []).extend(values)
        finally:
            _close(app, window)
    actions: dict[str, dict[str, list[float]]] = {}
    for image_id, count in list(photos.values())[1:]:
        window, _seconds = _open(app, library, image_id)
        if len(window.canvas.boxes) != count:
            raise RuntimeError(f"{len(window.canvas.boxes)} boxes on the canvas, not {count}")
        name = "1 box (baseline)" if count == 1 else f"{count} boxes"
        actions[name] = _interactions(app, window, repeats)
        _close(app, window)

    def stats(values: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(values), 1), "max_ms": round(max(values), 1)}

    screen = app.primaryScreen().size()
    return {
        "repeats": repeats,
        "opens": opens,
        "screen": f"{screen.width()}×{screen.height()}",
        "largest_preview": f"{preview[0]}×{preview[1]}",
        "open": {name: stats(v) for name, v in open_ms.items()},
        **{
            what: {name: stats(v[what]) for name, v in actions.items()}
            for what in ("repaint", "edit", "select", "hover")
        },
        "zoom in": {name: stats(v) for name, v in zoom.items()},
    }


def table(result: dict[str, object], command: str) -> str:
    """The result as a Markdown table, with the command and the setting."""
    lines = [
        f"`{command}` (screen {result['screen']}, largest preview {result['largest_preview']})",
        "",
        "| measurement | photo | median | max |",
        "|---|---|---:|---:|",
    ]
    for what in ("open", "repaint", "edit", "select", "hover", "zoom in"):
        rows = result[what]
        assert isinstance(rows, dict)
        for name, values in rows.items():
            lines.append(
                f"| {what} | {name} | {values['median_ms']:.1f} ms | {values['max_ms']:.1f} ms |"
            )
    return "\n".join(lines)
