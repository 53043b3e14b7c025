"""The photo on a canvas at full size, decoded in the background for sharp zooming.

:class:`~dclip_app.photo_canvas.PhotoCanvas` asks for it (``detail_wanted``) once the view
enlarges its screen-sized copy past its resolution, and lays its pixels over the copy. One photo
is kept (a 24 MP photo is about 96 MB in
memory), so asking again for the same photo — the visualizer shows it anew for every query —
answers at once. Decodes stop at :data:`FULL_MAX_EDGE` pixels on the long side; a photo that
cannot be decoded gets no answer (the copy stays on screen).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from dclip_app.thumbnails import decode_thumbnail
from dclip_app.workers import TaskControl, WorkerPool

log = logging.getLogger(__name__)

# 8192 × 5461 is 179 MB in memory; larger photos are decoded reduced to this.
FULL_MAX_EDGE = 8192


class FullPhotoLoader(QObject):
    """Decodes one photo at a time at full size; ``ready(path, image)`` for the latest request."""

    ready = Signal(str, QImage)

    def __init__(self, parent: QObject | None = None, max_edge: int = FULL_MAX_EDGE) -> None:
        super().__init__(parent)
        self.max_edge = max_edge
        self.pool = WorkerPool(max_threads=1, parent=self)
        self.wanted: str | None = None
        self._kept: tuple[str, QImage] | None = None

    def request(self, path: str) -> None:
        """Decode ``path`` (``ready`` follows unless another photo is requested first)."""
        self.wanted = path
        if self._kept is not None and self._kept[0] == path:
            self.ready.emit(path, self._kept[1])
            return
        self._kept = None  # the old photo's memory goes before the new one is decoded
        self.pool.cancel_all()
        edge = self.max_edge

        def task(control: TaskControl) -> QImage:
            control.checkpoint()
            return decode_thumbnail([Path(path)], edge)

        self.pool.start(
            task,
            "full-size photo",
            on_result=lambda image: self._decoded(path, image),
            on_error=lambda exc: log.info("no full-size copy of %s: %s", path, exc),
        )

    def forget(self) -> None:
        """Another photo is shown: drop the kept one and ignore a decode still running."""
        self.wanted = None
        self._kept = None

    def _decoded(self, path: str, image: QImage) -> None:
        if path == self.wanted:
            self._kept = (path, image)
            self.ready.emit(path, image)

    def shutdown(self) -> None:
        self.pool.cancel_all()
        self.pool.wait_for_done(5_000)
