"""Screenshots of the annotation window: ``annotate-boxes.png`` and ``annotate-captions.png``.

:func:`annotate_screens` opens the library of a DCLIP home (say, the one ``screenshots.py`` made
and indexed), gives one of its photos a few drawn boxes, detector suggestions and captions with a
linked span when it has none (through the core API, as the app would), and grabs the window twice:
boxes with suggestions waiting for review, then the caption list with a span linked to a box. Run
it inside a QApplication, under Xvfb for real fonts::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python packaging/screens_annotate.py HOME OUT

Only file names show in the pictures, never a folder path.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dclip_app.annotate.window import AnnotateWindow
    from dclip_core.library.annotations import Annotations, Photo

WINDOW_SIZE = (1360, 860)
MIN_EDGE = 400  # a photo at least this wide and high shows boxes well


def _spin(seconds: float) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def seed_sample_photo(api: Annotations, photos: Sequence[Photo]) -> Photo:
    """The first photo large enough, with boxes, suggestions and captions (fractions of its size)
    unless it has some. Its "detector" suggestions are placed by hand here: no detector knows
    these sample photos offline (the demo's pictures use real detector suggestions)."""
    big = [p for p in photos if min(p.width, p.height) >= MIN_EDGE] or list(photos)
    photo = big[0]
    if api.boxes_of(photo.content_hash) or api.captions_of(photo.content_hash):
        return photo
    w, h = photo.width, photo.height

    def box(fx: float, fy: float, fw: float, fh: float, label: str, **kw: object) -> int:
        change = api.add_box(photo.image_id, fx * w, fy * h, fw * w, fh * h, label, **kw)  # type: ignore[arg-type]
        return change.first_created().id

    main = box(0.30, 0.12, 0.42, 0.80, "astronaut")
    box(0.05, 0.05, 0.22, 0.45, "flag")
    box(0.72, 0.10, 0.22, 0.55, "rocket", source="detector", score=0.81)
    box(0.56, 0.66, 0.40, 0.34, "helmet", source="detector", score=0.46)
    caption = api.add_caption(photo.image_id, "an astronaut in an orange suit beside a flag")
    api.add_caption(photo.image_id, "official portrait, space shuttle in the background")
    caption_id = caption.first_created().id
    api.link_span(caption_id, 3, 12, main)
    return photo


def annotate_screens(
    window_home: Path,
    out: Path,
    seed: Callable[[Annotations, Sequence[Photo]], Photo] = seed_sample_photo,
) -> list[Path]:
    """Write ``annotate-boxes.png`` and ``annotate-captions.png`` into ``out``.

    Args:
        window_home: a DCLIP home with an indexed library (DCLIP_HOME is set to it).
        out: the folder for the pictures.
        seed: picks the photo to show among the library's and gives it annotations.

    Returns:
        the files written.
    """
    os.environ["DCLIP_HOME"] = str(window_home)
    from PySide6.QtWidgets import QApplication

    from dclip_app.annotate.window import AnnotateWindow
    from dclip_app.resources import stylesheet
    from dclip_core.library import Library

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setStyleSheet(stylesheet())
    library = Library.open()
    api = library.annotations()
    photos = []
    for root in library.roots():
        for path in sorted(Path(root.path).rglob("*")):
            record = library.image_by_path(path)
            if record is not None and record.status == "ok":
                photos.append(api.photo(record.id))
    if not photos:
        raise RuntimeError(f"the library of {window_home} has no indexed photo; index some first")
    chosen = seed(api, photos)
    window = AnnotateWindow(library, [p.image_id for p in photos], photos.index(chosen))
    window.resize(*WINDOW_SIZE)
    shown: list[int] = []
    window.photo_shown.connect(shown.append)
    window.show()
    end = time.monotonic() + 30
    while not shown and time.monotonic() < end:
        QApplication.processEvents()
    out.mkdir(parents=True, exist_ok=True)
    written = [_boxes_picture(window, out), _captions_picture(window, out)]
    window.close()
    library.close()
    return written


def _boxes_picture(window: AnnotateWindow, out: Path) -> Path:
    waiting = window.session.state.suggestions()
    if waiting:
        window.select_box(waiting[0].id)
    _spin(0.5)
    target = out / "annotate-boxes.png"
    window.grab().save(str(target))
    return target


def _captions_picture(window: AnnotateWindow, out: Path) -> Path:
    state = window.session.state
    linked = next((c for c in state.captions if state.links_of_caption(c.id)), None)
    if linked is not None:
        panel = window.caption_panel
        panel.select_caption(linked.id)
        panel.links.setCurrentRow(0)
    _spin(0.5)
    target = out / "annotate-captions.png"
    window.grab().save(str(target))
    return target


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for written in annotate_screens(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()):
        print(f"wrote {written}")
