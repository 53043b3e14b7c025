"""Asynchronous thumbnails with an LRU pixmap cache.

The results delegate asks :meth:`ThumbnailCache.lookup` while painting, so only visible items ever
request a thumbnail. A miss queues a decode on the worker pool (newest request first, because that
is what the user is looking at now) and returns ``LOADING``; the delegate draws a placeholder, and
the view repaints when :attr:`ThumbnailCache.ready` fires. Requests that scrolled out of the most
recent ``max_pending`` are dropped before they are decoded, so flinging through 100k results does
not leave a queue of useless work behind.

Decoding happens on pool threads into a ``QImage`` (thread-safe); the ``QPixmap`` is made on the
GUI thread, as Qt requires.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

from dclip_app.workers import TaskControl, WorkerPool


class ThumbnailState(enum.Enum):
    READY = "ready"
    LOADING = "loading"
    FAILED = "failed"


class ThumbnailDecodeError(Exception):
    """No source of a thumbnail could be decoded (shown as a broken-image placeholder)."""


def decode_thumbnail(sources: Sequence[Path], edge: int) -> QImage:
    """Decode the first readable source, scaled to fit ``edge``×``edge`` (EXIF orientation applied).

    JPEGs are decoded reduced by Qt (DCT scaling), so a 24 MP photo costs little.

    Raises:
        ThumbnailDecodeError: when no source is readable; the message has Qt's reason.
    """
    reasons = []
    for source in sources:
        reader = QImageReader(str(source))
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and (size.width() > edge or size.height() > edge):
            reader.setScaledSize(size.scaled(QSize(edge, edge), Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if not image.isNull():
            if image.width() > edge or image.height() > edge:
                # Some formats ignore setScaledSize; scale after the fact.
                image = image.scaled(
                    edge,
                    edge,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            return image
        reasons.append(f"{source.name}: {reader.errorString()}")
    raise ThumbnailDecodeError("; ".join(reasons) or "no source file")


class ThumbnailCache(QObject):
    """Thumbnails keyed by a string (the image path), decoded in the background.

    Args:
        pool: where decodes run (a pool of its own, so indexing does not starve the grid).
        edge: longest side of a thumbnail in pixels.
        budget_bytes: the LRU evicts the least recently painted pixmaps beyond this size.
        max_pending: how many not-yet-decoded requests are kept; older ones are dropped.
    """

    ready = Signal(str)

    def __init__(
        self,
        pool: WorkerPool,
        edge: int,
        *,
        budget_bytes: int = 96 * 1024 * 1024,
        max_pending: int = 256,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._pool = pool
        self.edge = edge
        self._budget = budget_bytes
        self._used = 0
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._failed: dict[str, str] = {}
        self._max_pending = max_pending
        self._pending: OrderedDict[str, None] = OrderedDict()
        self._pending_lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._request_counter = 0
        self.decoded_count = 0

    def lookup(
        self, key: str, sources: Callable[[], Sequence[Path]]
    ) -> tuple[ThumbnailState, QPixmap | None]:
        """Return the thumbnail if cached, else start loading it (only called for visible items).

        ``sources`` is called on the pool thread (it may ask the library, or make a thumbnail).
        """
        pixmap = self._pixmaps.get(key)
        if pixmap is not None:
            self._pixmaps.move_to_end(key)
            return ThumbnailState.READY, pixmap
        if key in self._failed:
            return ThumbnailState.FAILED, None
        self._request(key, sources)
        return ThumbnailState.LOADING, None

    def failure_reason(self, key: str) -> str | None:
        return self._failed.get(key)

    def clear(self) -> None:
        """Forget everything (e.g. after a rescan changed files)."""
        self._pixmaps.clear()
        self._failed.clear()
        self._used = 0
        with self._pending_lock:
            self._pending.clear()

    def __len__(self) -> int:
        return len(self._pixmaps)

    @property
    def used_bytes(self) -> int:
        return self._used

    def _request(self, key: str, sources: Callable[[], Sequence[Path]]) -> None:
        with self._pending_lock:
            if key in self._pending:
                self._pending.move_to_end(key)
            else:
                self._pending[key] = None
                while len(self._pending) > self._max_pending:
                    self._pending.popitem(last=False)
        if key in self._in_flight:
            return
        self._in_flight.add(key)
        self._request_counter += 1
        edge = self.edge

        def task(control: TaskControl) -> QImage | str | None:
            with self._pending_lock:
                wanted = self._pending.pop(key, "gone") is None
            if not wanted or control.cancelled:
                return None  # scrolled away before we got to it
            try:
                return decode_thumbnail(sources(), edge)
            except ThumbnailDecodeError as exc:
                # An unreadable photo is an expected outcome, shown as a broken tile, not logged.
                return str(exc)

        self._pool.start(
            task,
            f"thumbnail {key}",
            on_result=lambda image: self._store(key, image),
            on_error=lambda exc: self._store_failure(key, exc),
            on_finished=lambda: self._in_flight.discard(key),
            # Newest request first: it is what is on screen now.
            priority=min(self._request_counter, 2**31 - 1),
        )

    def _store(self, key: str, image: QImage | str | None) -> None:
        if image is None:
            return
        if isinstance(image, str):
            self._failed[key] = image
            self.ready.emit(key)
            return
        pixmap = QPixmap.fromImage(image)
        self._pixmaps[key] = pixmap
        self._used += _pixmap_bytes(pixmap)
        self.decoded_count += 1
        while self._used > self._budget and len(self._pixmaps) > 1:
            _, evicted = self._pixmaps.popitem(last=False)
            self._used -= _pixmap_bytes(evicted)
        self.ready.emit(key)

    def _store_failure(self, key: str, exc: BaseException) -> None:
        self._failed[key] = str(exc)
        self.ready.emit(key)


def _pixmap_bytes(pixmap: QPixmap) -> int:
    return pixmap.width() * pixmap.height() * max(1, pixmap.depth() // 8)
