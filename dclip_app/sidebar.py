"""The sidebar: library folders with their counts and status; selecting one filters the results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dclip_app.resources import icon

ALL_FOLDERS = "All folders"


@dataclass(frozen=True)
class FolderSummary:
    """One library folder as the sidebar shows it."""

    path: Path
    photos: int
    failed: int
    status: str  # "ok", "not indexed", "indexing", "missing" (folder not found)


def describe_folder(summary: FolderSummary) -> str:
    """The second line under a folder name, e.g. "1,204 photos · 3 skipped"."""
    parts = [f"{summary.photos:,} photo{'s' if summary.photos != 1 else ''}"]
    if summary.failed:
        parts.append(f"{summary.failed:,} skipped")
    if summary.status == "indexing":
        parts.append("indexing…")
    elif summary.status == "missing":
        parts.append("folder not found")
    elif summary.status == "not indexed":
        parts.append("waiting to be indexed")
    return " · ".join(parts)


class FolderSidebar(QWidget):
    """List of library folders with add (button or drag-and-drop), remove and rescan."""

    add_requested = Signal(list)  # list[Path]
    remove_requested = Signal(Path)
    rescan_requested = Signal()
    selection_changed = Signal(tuple)  # tuple[Path, ...]: () means all folders

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setAcceptDrops(True)
        self.setMinimumWidth(170)

        title = QLabel("FOLDERS")
        title.setObjectName("SidebarTitle")
        self.folder_list = QListWidget()
        self.folder_list.setObjectName("FolderList")
        self.folder_list.setIconSize(QSize(18, 18))
        self.folder_list.setWordWrap(True)
        self.folder_list.currentRowChanged.connect(self._emit_selection)

        self.hint = QLabel(
            "No folders yet.\nAdd one with the + button or drop a folder here; "
            "DCLIP indexes it in the background."
        )
        self.hint.setWordWrap(True)
        self.hint.setObjectName("HelpText")

        self.add_button = _tool_button("folder-add", "Add a folder to the library")
        self.add_button.clicked.connect(self.choose_folder)
        self.remove_button = _tool_button("folder-remove", "Remove the selected folder")
        self.remove_button.clicked.connect(self._remove_selected)
        self.rescan_button = _tool_button("rescan", "Look for new, changed and deleted photos")
        self.rescan_button.clicked.connect(self.rescan_requested)

        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.rescan_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(title)
        layout.addWidget(self.folder_list, 1)
        layout.addWidget(self.hint)
        layout.addLayout(buttons)
        self._paths: list[Path] = []
        self.set_folders([])

    def set_folders(self, folders: list[FolderSummary]) -> None:
        """Show ``folders``, keeping the selected folder selected when it is still there."""
        selected = self.selected_folders()
        self.folder_list.blockSignals(True)
        self.folder_list.clear()
        total = sum(f.photos for f in folders)
        all_item = QListWidgetItem(icon("image"), f"{ALL_FOLDERS}\n{total:,} photos")
        self.folder_list.addItem(all_item)
        self._paths = [f.path for f in folders]
        for summary in folders:
            item = QListWidgetItem(
                icon("warning" if summary.status == "missing" else "folder"),
                f"{summary.path.name or summary.path}\n{describe_folder(summary)}",
            )
            item.setToolTip(str(summary.path))
            self.folder_list.addItem(item)
        row = self._paths.index(selected[0]) + 1 if selected and selected[0] in self._paths else 0
        self.folder_list.setCurrentRow(row)
        self.folder_list.blockSignals(False)
        self.hint.setVisible(not folders)
        self.remove_button.setEnabled(bool(folders))
        self.rescan_button.setEnabled(bool(folders))
        if selected and selected[0] not in self._paths:
            self._emit_selection(0)

    def selected_folders(self) -> tuple[Path, ...]:
        row = self.folder_list.currentRow()
        if row <= 0 or row > len(self._paths):
            return ()
        return (self._paths[row - 1],)

    def choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Add a folder to the library")
        if chosen:
            self.add_requested.emit([Path(chosen)])

    def _remove_selected(self) -> None:
        selected = self.selected_folders()
        if selected:
            self.remove_requested.emit(selected[0])

    def _emit_selection(self, _row: int) -> None:
        self.selection_changed.emit(self.selected_folders())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if _dropped_folders(event):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        folders = _dropped_folders(event)
        if folders:
            event.acceptProposedAction()
            self.add_requested.emit(folders)


def _dropped_folders(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [
        Path(url.toLocalFile())
        for url in mime.urls()
        if url.isLocalFile() and Path(url.toLocalFile()).is_dir()
    ]


def _tool_button(icon_name: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setIcon(icon(icon_name))
    button.setIconSize(QSize(20, 20))
    button.setToolTip(tip)
    return button
