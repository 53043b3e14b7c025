"""Screen-sized copies of the photos being annotated, decoded in the background.

A 6000×4000 photo is never decoded whole: :func:`~dclip_app.thumbnails.decode_thumbnail` asks Qt
for a copy that fits the screen (JPEGs are reduced while decoding), upright as its EXIF says. The
canvas scales it up to the photo's full size in pixels, so boxes keep full-size coordinates.
The photos next to the current one are decoded ahead, so stepping through a folder does not wait.
(Zoomed in past the preview, the full-size photo comes from :mod:`dclip_app.full_photo`.)
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication, QImage

from dclip_app.thumbnails import ThumbnailDecodeError, decode_thumbnail
from dclip_app.workers import TaskControl, WorkerPool

CACHED_PREVIEWS = 6
MAX_EDGE = 2560


def screen_edge() -> int:
    """The longest side a preview needs: the screen's, in device pixels (at most 2560)."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return 1600
    size = screen.size()
    return min(MAX_EDGE, int(max(size.width(), size.height()) * screen.devicePixelRatio()))


class PreviewLoader(QObject):
    """Decodes previews on a thread of its own; ``ready(path, image)`` or ``failed(path, why)``."""

    ready = Signal(str, QImage)
    failed = Signal(str, str)

    def __init__(self, edge: int | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.edge = edge or screen_edge()
        self.pool = WorkerPool(max_threads=1, parent=self)
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._pending: set[str] = set()
        self._wanted: str | None = None

    def cached(self, path: str) -> QImage | None:
        image = self._cache.get(path)
        if image is not None:
            self._cache.move_to_end(path)
        return image

    def request(self, path: str) -> None:
        """Decode ``path`` now (``ready`` follows, at once when cached)."""
        self._wanted = path
        image = self.cached(path)
        if image is not None:
            self.ready.emit(path, image)
        else:
            self._start(path, priority=1)

    def prefetch(self, paths: list[str]) -> None:
        """Decode these when the thread is free, quietly (kept for a later ``request``)."""
        for path in paths:
            if path not in self._cache:
                self._start(path, priority=0)

    def _start(self, path: str, priority: int) -> None:
        if path in self._pending:
            return
        self._pending.add(path)
        edge = self.edge

        def task(control: TaskControl) -> QImage:
            control.checkpoint()
            return decode_thumbnail([Path(path)], edge)

        self.pool.start(
            task,
            "annotation preview",
            on_result=lambda image: self._decoded(path, image),
            on_error=lambda exc: self._failed(path, exc),
            on_finished=lambda: self._pending.discard(path),
            priority=priority,
        )

    def _decoded(self, path: str, image: QImage) -> None:
        self._cache[path] = image
        self._cache.move_to_end(path)
        while len(self._cache) > CACHED_PREVIEWS:
            self._cache.popitem(last=False)
        if path == self._wanted:
            self.ready.emit(path, image)

    def _failed(self, path: str, exc: BaseException) -> None:
        if path == self._wanted:
            reason = str(exc) if isinstance(exc, ThumbnailDecodeError) else repr(exc)
            self.failed.emit(path, f"Cannot show {Path(path).name}: {reason}")

    def shutdown(self) -> None:
        self.pool.cancel_all()
        self.pool.wait_for_done(5_000)
