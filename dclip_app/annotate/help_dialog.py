"""The "Keyboard shortcuts" panel (F1): every action of the annotation window and its key."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dclip_app.annotate.shortcuts import help_rows

MOUSE_ROWS = (
    ("Mouse", "Select a box, move it", "click it, drag it"),
    ("Mouse", "Resize the selected box", "drag a handle"),
    ("Mouse", "Draw a box (after “New box”)", "drag on the photo"),
    ("Mouse", "Pan / zoom", "drag the background / wheel"),
    ("Mouse", "Cancel a drag or “New box”", "Esc"),
)


class ShortcutsDialog(QDialog):
    """A table of the keys in use; a non-modal panel beside the window."""

    def __init__(self, keys: Mapping[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ShortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["", "Action", "Key"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)
        self.table.setShowGrid(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        note = QLabel("Change the keys in Settings → Keyboard shortcuts.")
        note.setObjectName("HelpText")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(560, 640)
        self.show_keys(keys)

    def show_keys(self, keys: Mapping[str, str]) -> None:
        rows = [*help_rows(keys), *MOUSE_ROWS]
        self.table.setRowCount(len(rows))
        previous = ""
        for row, (group, text, key) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(group if group != previous else ""))
            self.table.setItem(row, 1, QTableWidgetItem(text))
            self.table.setItem(row, 2, QTableWidgetItem(key))
            previous = group

    def key_of(self, text: str) -> str:
        """The key shown for the action ``text`` (what the user reads)."""
        for row in range(self.table.rowCount()):
            action, key = self.table.item(row, 1), self.table.item(row, 2)
            if action is not None and key is not None and action.text() == text:
                return key.text()
        raise KeyError(text)
