"""The app's handle on the photo library: a Qt adapter over :class:`dclip_core.library.Library`.

Threads, in the manner of Anki's task manager:

* **one writer pool** (a single thread) runs everything that writes — adding and removing folders,
  indexing — one job after another, so the library has exactly one writer;
* **one reader pool** runs searches and folder summaries beside it on its own SQLite connection
  (the core opens one per thread); a newer search makes older, not yet started ones moot.

Every answer reaches the window as a signal on the GUI thread. Nothing here decides what a search
means or how indexing works: that is the core's job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from dclip_app.results_model import SearchHit
from dclip_app.search_bar import QueryInput
from dclip_app.searching import (
    SearchOutcome,
    build_query,
    next_page_size,
    search_failure_message,
)
from dclip_app.sidebar import FolderSummary
from dclip_app.workers import TaskControl, Worker, WorkerPool
from dclip_core.config import Settings
from dclip_core.errors import DclipError

if TYPE_CHECKING:
    # The library pulls in numpy, hnswlib and PIL (~0.5 s): imported on a worker thread once the
    # window is up, never before it is shown.
    from dclip_core.library.indexer import CancelToken, IndexProgress, IndexReport
    from dclip_core.library.library import Library
    from dclip_core.library.query import SearchResponse

log = logging.getLogger(__name__)

def folder_summaries(library: Library, indexing: bool) -> list[FolderSummary]:
    """The sidebar's view of the library's folders."""
    out = []
    for root in library.roots():
        status = root.status
        if indexing and status != "missing":
            status = "indexing"
        out.append(FolderSummary(root.path, root.images, root.failed, status))
    return out


class LibraryService(QObject):
    """Owns the :class:`Library`, the loaded encoder, the writer and reader pools."""

    folders_changed = Signal(list)  # list[FolderSummary]
    model_loaded = Signal(str, str, str)  # model name, provider, note
    model_failed = Signal(str)
    index_started = Signal()
    index_progress = Signal(object)  # IndexProgress
    index_finished = Signal(str)  # one line: what the run did
    search_done = Signal(object)  # SearchOutcome
    search_failed = Signal(str)
    message = Signal(str)

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.library: Library | None = None
        self.encoder: Any = None
        self.writer = WorkerPool(max_threads=1, parent=self)
        self.reader = WorkerPool(max_threads=1, parent=self)
        self.folders: list[FolderSummary] = []
        self._index_worker: Worker | None = None
        self._cancel_token: CancelToken | None = None
        self._resume = threading.Event()
        self._resume.set()
        self._search_generation = 0
        self._reindex_after_run = False
        self._opening = False

    # --- lifecycle ---------------------------------------------------------------------------

    def open_library(self) -> None:
        """Open the library on the writer thread (jobs queued after it see it open)."""
        if self.library is not None or self._opening:
            return
        self._opening = True
        settings = self.settings

        def task(control: TaskControl) -> Library:
            from dclip_core.library.library import Library

            return Library.open(settings=settings)

        self.writer.start(
            task,
            "open library",
            on_result=self._library_opened,
            on_error=lambda exc: self.message.emit(f"Cannot open the library: {exc}"),
            on_finished=lambda: setattr(self, "_opening", False),
        )

    def _library_opened(self, library: Library) -> None:
        self.library = library
        self.refresh_folders()
        if self.encoder is not None and library.roots():
            self.start_indexing()

    def load_model(self, bundle: Path) -> None:
        """Load the bundle's encoder in the background, then bring the library up to date."""
        provider, threads = self.settings.execution_provider, self.settings.threads

        def task(control: TaskControl) -> Any:
            from dclip_core.runtime.encoders import ClipEncoder

            return ClipEncoder.load(bundle, provider=provider, threads=threads)

        self.writer.start(
            task,
            "load model",
            on_result=self._encoder_loaded,
            on_error=lambda exc: self.model_failed.emit(str(exc)),
        )

    def _encoder_loaded(self, encoder: Any) -> None:
        self.encoder = encoder
        choice = encoder.provider_choice
        self.model_loaded.emit(encoder.manifest.name, encoder.provider, choice.reason)
        if getattr(encoder.manifest, "meaningless", False):
            self.message.emit(
                f"Model {encoder.manifest.name} has random weights: results are meaningless"
            )
        if self.folders:
            self.start_indexing()

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings
        if self.library is not None:
            self.library.settings = settings

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Stop indexing at the next batch boundary, wait for every job, close the database."""
        self.cancel_indexing()
        self._search_generation += 1
        self.writer.wait_for_done(timeout_ms)
        self.reader.wait_for_done(timeout_ms)
        if self.library is not None:
            self.library.close()
            self.library = None

    # --- folders -----------------------------------------------------------------------------

    def refresh_folders(self) -> None:
        library = self.library
        if library is None:
            return
        indexing = self.indexing
        self.reader.start(
            lambda control: folder_summaries(library, indexing),
            "folder summaries",
            on_result=self._set_folders,
            on_error=lambda exc: self.message.emit(f"Cannot read the library: {exc}"),
        )

    def _set_folders(self, folders: list[FolderSummary]) -> None:
        self.folders = folders
        self.folders_changed.emit(folders)

    def add_folders(self, paths: Sequence[Path]) -> None:
        library = self.library
        if library is None:
            return

        def task(control: TaskControl) -> int:
            for path in paths:
                library.add_root(path)
            return len(paths)

        # Writes queue behind a running indexer on the single writer thread; ask it to wrap up so
        # the new folder is indexed together with the rest right after.
        if self.indexing:
            self._reindex_after_run = True
            self.message.emit("Adding the folder after the current batch…")
            self.cancel_indexing()
        self.writer.start(
            task,
            "add folders",
            on_result=lambda _n: self._after_write(index=True),
            on_error=self._write_failed,
        )

    def remove_folder(self, path: Path) -> None:
        library = self.library
        if library is None:
            return
        if self.indexing:
            self._reindex_after_run = True
            self.cancel_indexing()
        self.writer.start(
            lambda control: library.remove_root(path),
            "remove folder",
            on_result=lambda removed: self._after_write(
                index=False, note=f"Removed {path.name}: {removed:,} photo(s) left the library"
            ),
            on_error=self._write_failed,
        )

    def rescan(self) -> None:
        self.start_indexing()

    def _after_write(self, *, index: bool, note: str | None = None) -> None:
        if note:
            self.message.emit(note)
        self.refresh_folders()
        if index:
            self.start_indexing()

    def _write_failed(self, exc: BaseException) -> None:
        self.message.emit(str(exc))
        self.refresh_folders()

    def failed_files(self) -> list[tuple[str, str]]:
        if self.library is None:
            return []
        return [(str(f.path), f.reason) for f in self.library.failed_files()]

    # --- indexing ----------------------------------------------------------------------------

    @property
    def indexing(self) -> bool:
        return self._index_worker is not None

    def region_layout(self) -> str:
        """The region layout of the library's vectors (``none`` when no library is open)."""
        return self.library.region_layout() if self.library is not None else "none"

    def start_indexing(self, regions: str | None = None) -> None:
        """Index every folder in the background (incremental: unchanged photos cost a stat).

        Args:
            regions: a region layout to index with from now on (every photo is embedded again
                when it changes); None keeps the library's.
        """
        library, encoder = self.library, self.encoder
        if library is None or encoder is None:
            return
        if self.indexing:
            self._reindex_after_run = True
            return
        from dclip_core.library.indexer import CancelToken

        token = CancelToken()
        self._cancel_token = token
        self._resume.set()

        def on_progress_in_worker(progress: IndexProgress, control: TaskControl) -> None:
            # Pausing blocks the indexer here, between batches; cancel wakes it up.
            self._resume.wait()
            control.report(progress, force=progress.phase == "done")

        def task(control: TaskControl) -> IndexReport:
            if not library.roots():
                raise DclipError("add a folder first")
            return library.index(
                encoder=encoder,
                progress=lambda p: on_progress_in_worker(p, control),
                cancel=token,
                options=library.index_options(regions=regions),
            )

        self._index_worker = self.writer.start(
            task,
            "index",
            on_progress=self.index_progress.emit,
            on_result=self._index_done,
            on_error=self._index_failed,
            on_finished=self._index_ended,
            progress_interval_s=0.1,
        )
        self.index_started.emit()
        self.refresh_folders()

    def pause_indexing(self, paused: bool) -> None:
        if paused and self.indexing:
            self._resume.clear()
            self.message.emit("Indexing paused")
        else:
            self._resume.set()

    def cancel_indexing(self) -> None:
        if self._cancel_token is not None:
            self._cancel_token.cancel()
        self._resume.set()

    def _index_done(self, report: IndexReport) -> None:
        verb = "Indexing stopped" if report.cancelled else "Library up to date"
        parts = [f"{report.embedded:,} new"]
        if report.reused:
            parts.append(f"{report.reused:,} moved or copied")
        if report.removed:
            parts.append(f"{report.removed:,} removed")
        if report.failed:
            parts.append(f"{report.failed:,} skipped")
        self.index_finished.emit(f"{verb}: {', '.join(parts)} ({report.seconds:.1f} s)")

    def _index_failed(self, exc: BaseException) -> None:
        self.index_finished.emit(f"Indexing failed: {exc}")

    def _index_ended(self) -> None:
        self._index_worker = None
        self._cancel_token = None
        self.refresh_folders()
        if self._reindex_after_run:
            self._reindex_after_run = False
            self.start_indexing()

    # --- search ------------------------------------------------------------------------------

    def search(self, query: QueryInput, *, more_of: SearchOutcome | None = None) -> None:
        """Search in the background; only the newest search's answer is delivered.

        ``more_of`` fetches the next page of that outcome (as many results again, up to
        :data:`~dclip_app.searching.MAX_RESULTS`) and delivers the pages together.
        """
        library = self.library
        if library is None:
            self.search_failed.emit("The library is not open.")
            return
        self._search_generation += 1
        generation = self._search_generation
        earlier = tuple(more_of.results) if more_of is not None else ()
        page = next_page_size(len(earlier))
        core_query = build_query(query, page, offset=len(earlier))

        def task(control: TaskControl) -> SearchResponse | None:
            if generation != self._search_generation:
                return None  # the user typed on; a newer search is queued
            return library.search(core_query)

        def deliver(response: SearchResponse | None) -> None:
            if response is not None and generation == self._search_generation:
                outcome = SearchOutcome(query, response, len(earlier) + page, earlier)
                self.search_done.emit(outcome)

        def failed(exc: BaseException) -> None:
            if generation == self._search_generation:
                self.search_failed.emit(search_failure_message(exc))

        self.reader.start(task, "search", on_result=deliver, on_error=failed)

    # --- thumbnails --------------------------------------------------------------------------

    def thumbnail_sources(self, hit: SearchHit) -> Callable[[], list[Path]]:
        """Files to draw a grid thumbnail from, best first (called on a pool thread)."""
        library = self.library

        def sources() -> list[Path]:
            cached = library.thumbnail_path(hit.image_id) if library is not None else None
            return [cached, Path(hit.path)] if cached is not None else [Path(hit.path)]

        return sources

    def preview_sources(self, hit: SearchHit) -> Callable[[], list[Path]]:
        """The detail pane wants more pixels than the thumbnail cache has: the photo first."""

        def sources() -> list[Path]:
            cached = self.library.thumbnail_path(hit.image_id) if self.library else None
            return [Path(hit.path), *([cached] if cached is not None else [])]

        return sources
