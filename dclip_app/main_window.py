"""The main window: folders on the left, search and results in the middle, details on the right.

It wires views to the :class:`~dclip_app.library_service.LibraryService` and shows its answers;
the first-run panel takes the middle until a model bundle exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from dclip_app.desktop import copy_paths, open_with_system_viewer, reveal_in_file_manager
from dclip_app.detail_pane import PREVIEW_EDGE, DetailPane
from dclip_app.first_run import FirstRunPanel
from dclip_app.library_service import LibraryService
from dclip_app.main_menus import build_menus
from dclip_app.model_setup import model_state
from dclip_app.resources import icon
from dclip_app.results_model import SearchHit
from dclip_app.results_pane import ResultsPane
from dclip_app.results_view import THUMB_EDGE
from dclip_app.search_bar import QueryInput, SearchBar
from dclip_app.searching import SearchOutcome
from dclip_app.settings_dialog import SettingsDialog
from dclip_app.sidebar import FolderSidebar, FolderSummary
from dclip_app.status_panel import IndexStatus, ModelStatus, SkippedFilesDialog
from dclip_app.thumbnails import ThumbnailCache
from dclip_app.tool_windows import ToolWindows
from dclip_app.workers import WorkerPool
from dclip_core.config import Settings, get_paths, load_settings
from dclip_core.errors import ConfigError

if TYPE_CHECKING:
    from dclip_app.explain_window import ExplainWindow
    from dclip_core.library.indexer import IndexProgress

FIRST_RUN_PAGE = 0
LIBRARY_PAGE = 1


def window_state_file() -> Path:
    """Where window geometry is kept (under our config folder, so DCLIP_HOME isolates it)."""
    return get_paths().config_dir / "window.ini"


class MainWindow(QMainWindow):
    """The library and search window."""

    def __init__(self, settings: Settings, settings_problem: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("DCLIP — search your photos")
        self.setWindowIcon(icon("dclip"))
        self.settings = settings
        # Thumbnails get a pool of their own so a long indexing run never starves the grid.
        self.thumbnail_pool = WorkerPool(max_threads=2, parent=self)
        self.setup_pool = WorkerPool(max_threads=1, parent=self)
        self.service = LibraryService(settings, parent=self)

        self.thumbnails = ThumbnailCache(self.thumbnail_pool, THUMB_EDGE, parent=self)
        self.previews = ThumbnailCache(
            self.thumbnail_pool, PREVIEW_EDGE, budget_bytes=16 * 1024 * 1024, parent=self
        )
        sources = self.service.thumbnail_sources

        # --- widgets -------------------------------------------------------------------------
        self.sidebar = FolderSidebar()
        self.search_bar = SearchBar()
        self.results = ResultsPane(self.thumbnails, sources)
        self.detail = DetailPane(self.previews, self.service.preview_sources)

        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(10, 10, 10, 6)
        center_layout.addWidget(self.search_bar)
        center_layout.addWidget(self.results, 1)

        self.splitter = QSplitter()
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 760, 300])
        self.splitter.setChildrenCollapsible(False)

        self.first_run = FirstRunPanel(self.setup_pool)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.first_run)
        self.pages.addWidget(self.splitter)
        self.setCentralWidget(self.pages)

        self.index_status = IndexStatus()
        self.model_status = ModelStatus()
        self.statusBar().addWidget(self.index_status, 1)
        self.statusBar().addPermanentWidget(self.model_status)
        self.model_status.show_model(None, None)

        self.tool_windows = ToolWindows(self)
        self._runs_offered = False
        self._build_menu()
        self._connect()
        self._restore_geometry()
        self.last_input = QueryInput()
        self._update_empty_state()
        if settings_problem:
            self.index_status.show_message(settings_problem)

    def show_banner(self, text: str) -> None:
        """Show ``text`` above the search bar (``dclip demo`` says there what the demo is)."""
        banner = QLabel(text)
        banner.setObjectName("DemoBanner")
        banner.setWordWrap(True)
        banner.setStyleSheet(
            "background: #fff4c2; color: #3a3000; padding: 6px; border-radius: 4px;"
        )
        parent = self.search_bar.parentWidget()
        layout = parent.layout() if parent is not None else None
        assert isinstance(layout, QVBoxLayout)  # the centre column built in __init__
        layout.insertWidget(0, banner)

    # --- startup -----------------------------------------------------------------------------

    def start(self) -> None:
        """Open the library, then either load the model or show the first-run panel."""
        self.service.open_library()
        state = model_state(self.settings.model)
        if state.ready and state.bundle is not None:
            self.pages.setCurrentIndex(LIBRARY_PAGE)
            self.service.load_model(state.bundle)
        else:
            self.first_run.show_state(state)
            self.pages.setCurrentIndex(FIRST_RUN_PAGE)
        if not self._runs_offered:
            # Once the window is on screen: a fine-tune left training or stopped last time.
            self._runs_offered = True
            QTimer.singleShot(0, self, self.tool_windows.offer_unfinished_run)

    def _model_ready(self, bundle: Path) -> None:
        self.pages.setCurrentIndex(LIBRARY_PAGE)
        self.service.load_model(bundle)

    def model_switched(self, bundle: Path | None) -> None:
        """``dclip models activate/rollback`` changed the library's model and ``settings.model``:
        read the settings again and search with ``bundle``."""
        try:
            self.settings = load_settings()
        except ConfigError as exc:
            self.index_status.show_message(f"The model was switched, but {exc}")
            return
        self.service.update_settings(self.settings)
        self.tool_windows.settings_changed(self.settings)
        if bundle is not None:
            self._model_ready(bundle)

    # --- wiring ------------------------------------------------------------------------------

    def _build_menu(self) -> None:
        self.menu_actions = build_menus(self)
        actions = self.menu_actions
        actions.add_folder.triggered.connect(self.sidebar.choose_folder)
        actions.rescan.triggered.connect(self.service.rescan)
        actions.settings.triggered.connect(self.open_settings)
        actions.quit.triggered.connect(self.close)
        actions.regions.toggled.connect(self._regions_toggled)
        actions.find.triggered.connect(self._focus_search)
        actions.copy.triggered.connect(self._copy_selected)
        self.results.view.addAction(actions.copy)
        actions.similar.triggered.connect(self._similar_to_current)
        actions.explain.triggered.connect(self.tool_windows.explain_current)
        actions.annotate.triggered.connect(self.tool_windows.annotate_current)
        actions.finetune.triggered.connect(self.tool_windows.open_finetune)
        actions.rollback.triggered.connect(self.tool_windows.rollback)

    def _connect(self) -> None:
        service = self.service
        self.sidebar.add_requested.connect(service.add_folders)
        self.sidebar.remove_requested.connect(self._confirm_remove_folder)
        self.sidebar.rescan_requested.connect(service.rescan)
        self.sidebar.selection_changed.connect(self.search_bar.set_folders)
        self.search_bar.query_changed.connect(self._run_search)
        results = self.results
        results.view.selectionModel().currentChanged.connect(
            lambda current, _prev: self.detail.show_hit(results.model.hit_at(current.row()))
        )
        results.model.modelReset.connect(lambda: self.detail.show_hit(None))
        results.open_requested.connect(self._open_hit)
        results.reveal_requested.connect(lambda hit: reveal_in_file_manager(Path(hit.path)))
        results.copy_requested.connect(lambda hit: copy_paths([Path(hit.path)]))
        results.similar_requested.connect(self.find_similar)
        results.explain_requested.connect(self.tool_windows.explain_hit)
        results.more_wanted.connect(
            lambda outcome: service.search(self.last_input, more_of=outcome)
        )
        self.detail.open_requested.connect(self._open_hit)
        self.detail.reveal_requested.connect(lambda hit: reveal_in_file_manager(Path(hit.path)))
        self.detail.copy_requested.connect(lambda hit: copy_paths([Path(hit.path)]))
        self.detail.similar_requested.connect(self.find_similar)
        self.detail.explain_requested.connect(self.tool_windows.explain_hit)
        self.first_run.model_ready.connect(self._model_ready)

        self.index_status.pause_toggled.connect(service.pause_indexing)
        self.index_status.cancel_requested.connect(service.cancel_indexing)
        self.index_status.skipped_requested.connect(self.show_skipped_files)

        service.folders_changed.connect(self._folders_changed)
        service.model_loaded.connect(self._model_loaded)
        service.model_failed.connect(self._model_failed)
        service.index_started.connect(lambda: self.index_status.set_running(True))
        service.index_started.connect(self._show_region_layout)
        service.index_progress.connect(self._index_progress)
        service.index_finished.connect(self._index_finished)
        service.search_done.connect(self._search_done)
        service.search_failed.connect(self._search_failed)
        service.message.connect(self.index_status.show_message)

    # --- library events ----------------------------------------------------------------------

    def _folders_changed(self, folders: list[FolderSummary]) -> None:
        self._show_region_layout()
        self.sidebar.set_folders(folders)
        self.index_status.set_skipped(sum(f.failed for f in folders))
        self._update_empty_state()

    def _model_loaded(self, name: str, provider: str, note: str) -> None:
        self.model_status.show_model(name, provider, note)
        if not self.last_input.is_empty:
            self._run_search(self.last_input)

    def _model_failed(self, message: str) -> None:
        self.model_status.show_model(None, None)
        self.first_run.show_state(model_state(self.settings.model))
        self.first_run.show_error(message)
        self.pages.setCurrentIndex(FIRST_RUN_PAGE)

    def _show_region_layout(self) -> None:
        """Tick "Find small things" when the library's vectors have regions; while an indexing
        run is going the choice cannot change (the next run would not know of it)."""
        blocked = self.menu_actions.regions.blockSignals(True)
        self.menu_actions.regions.setChecked(self.service.region_layout() != "none")
        self.menu_actions.regions.blockSignals(blocked)
        self.menu_actions.regions.setEnabled(not self.service.indexing)

    def _regions_toggled(self, checked: bool) -> None:
        self.menu_actions.regions.setEnabled(False)
        self.service.start_indexing(regions="grid" if checked else "none")

    def _index_progress(self, progress: IndexProgress) -> None:
        self.index_status.show_progress(progress)

    def _index_finished(self, message: str) -> None:
        self.index_status.set_running(False)
        self.index_status.show_message(message)
        # New photos may match the current query now.
        if not self.last_input.is_empty:
            self._run_search(self.last_input)

    # --- search ------------------------------------------------------------------------------

    def _run_search(self, query: QueryInput) -> None:
        self.last_input = query
        if query.is_empty:
            self.results.clear()
            self._update_empty_state()
            return
        self.service.search(query)

    def _search_done(self, outcome: SearchOutcome) -> None:
        self.results.show_outcome(outcome)
        self._update_empty_state()

    def _search_failed(self, message: str) -> None:
        self.results.clear()
        self.results.show_message(message)

    def _update_empty_state(self) -> None:
        """Say why the grid is empty, when it is."""
        if self.results.has_hits:
            return
        if not self.service.folders:
            text = (
                "Your library is empty.\n\nAdd a folder of photos with the + button on the left "
                "(or drop a folder there). DCLIP indexes it in the background; you can search "
                "as soon as the first photos are in."
            )
        elif self.last_input.is_empty:
            text = (
                "Type what you are looking for above, e.g. “a dog on the beach”, or drop a "
                "photo on “search by example”."
            )
            if self.service.indexing:
                text += "\n\nYou can search while indexing runs."
        else:
            text = (
                "No photos match this search with the current filters.\n"
                "Try other words, or widen the folder and date filters."
            )
        self.results.show_message(text)

    # --- actions on results --------------------------------------------------------------------

    def find_similar(self, hit: SearchHit) -> None:
        self.search_bar.set_example_image(hit.image_id, Path(hit.path).name)

    def _similar_to_current(self) -> None:
        hit = self.results.view.current_hit()
        if hit is not None:
            self.find_similar(hit)

    @property
    def explain_window(self) -> ExplainWindow | None:
        return self.tool_windows.explain

    def open_explain_window(self) -> ExplainWindow:
        """The explain window (made on first use), on the library's current model bundle."""
        return self.tool_windows.open_explain()

    def _open_hit(self, hit: SearchHit) -> None:
        if not open_with_system_viewer(Path(hit.path)):
            self.index_status.show_message(f"No application could open {hit.path}")

    def _copy_selected(self) -> None:
        hits = self.results.view.selected_hits()
        if hits:
            copy_paths([Path(h.path) for h in hits])
            self.index_status.show_message(f"Copied {len(hits)} path(s)")

    def _focus_search(self) -> None:
        self.search_bar.text_field.setFocus()
        self.search_bar.text_field.selectAll()

    def _confirm_remove_folder(self, folder: Path) -> None:
        answer = QMessageBox.question(
            self,
            "Remove folder",
            f"Remove {folder} from the library?\n\nYour photos stay where they are; only "
            "DCLIP's index of them is deleted.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.service.remove_folder(folder)

    def show_skipped_files(self) -> None:
        SkippedFilesDialog(self.service.failed_files(), self).exec()

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, parent=self)
        if dialog.exec() and dialog.saved is not None:
            old_model = self.settings.model
            self.settings = dialog.saved
            self.service.update_settings(dialog.saved)
            self.tool_windows.settings_changed(dialog.saved)
            if dialog.saved.model != old_model:
                self.start()

    # --- window state and closing --------------------------------------------------------------

    def _qsettings(self) -> QSettings:
        return QSettings(str(window_state_file()), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        stored = self._qsettings()
        geometry = stored.value("geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            splitter = stored.value("splitter")
            if isinstance(splitter, QByteArray):
                self.splitter.restoreState(splitter)
        else:
            self.resize(1280, 800)

    def save_geometry(self) -> None:
        stored = self._qsettings()
        stored.setValue("geometry", self.saveGeometry())
        stored.setValue("splitter", self.splitter.saveState())
        stored.sync()

    def work_in_progress(self) -> list[str]:
        """What would be interrupted by closing now, in words."""
        work = []
        if self.service.indexing:
            work.append("indexing")
        if self.first_run.busy:
            work.append("setting up the model")
        return work

    def confirm_close(self, work: list[str]) -> bool:
        answer = QMessageBox.question(
            self,
            "Quit DCLIP?",
            f"DCLIP is still {' and '.join(work)}.\n\nStop and quit? Everything finished so far "
            "is kept; the rest continues next time.",
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        work = self.work_in_progress()
        if work and not self.confirm_close(work):
            event.ignore()
            return
        self.save_geometry()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.setup_pool.cancel_all()
            self.thumbnail_pool.cancel_all()
            self.tool_windows.close_all()
            # The indexer stops at its next batch boundary and commits it: nothing half-written.
            self.service.shutdown()
            self.setup_pool.wait_for_done()
            self.thumbnail_pool.wait_for_done()
        finally:
            QApplication.restoreOverrideCursor()
        event.accept()
