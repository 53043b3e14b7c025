"""The boxes of the photo as a list, the label field, and the review buttons of suggestions.

A thin view: it shows what :class:`~dclip_app.annotate.photo_state.PhotoAnnotations` holds and
emits what the user asked for; the window runs the edits. The label field completes from every
label already used in the library (``Annotations.labels()``), so one spelling stays one label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCompleter,
    QGridLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dclip_app.annotate.box_items import SUGGESTED, box_text, label_colour
from dclip_core.library.annotations import Box

ID_ROLE = Qt.ItemDataRole.UserRole


class BoxPanel(QWidget):
    """Label field, box list and the buttons that act on the selected box or all suggestions."""

    label_entered = Signal(str)
    box_selected = Signal(int)  # box id, -1: none
    accept_requested = Signal()
    reject_requested = Signal()
    accept_all_requested = Signal()
    reject_all_requested = Signal()
    delete_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label_field = QLineEdit()
        self.label_field.setObjectName("LabelField")
        self.label_field.setPlaceholderText("Label, e.g. “cat” (Enter applies it)")
        self.label_field.setClearButtonEnabled(True)
        self.label_model = QStringListModel(self)
        completer = QCompleter(self.label_model, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.label_field.setCompleter(completer)
        self.label_field.returnPressed.connect(
            lambda: self.label_entered.emit(self.label_field.text().strip())
        )

        self.list = QListWidget()
        self.list.setObjectName("BoxList")
        self.list.setUniformItemSizes(True)
        self.list.currentItemChanged.connect(self._current_changed)
        self.count_label = QLabel()
        self.count_label.setObjectName("HelpText")

        self.accept_button = QPushButton("Accept")
        self.reject_button = QPushButton("Reject")
        self.accept_all_button = QPushButton("Accept all")
        self.reject_all_button = QPushButton("Reject all")
        self.delete_button = QPushButton("Delete box")
        self.accept_button.clicked.connect(self.accept_requested)
        self.reject_button.clicked.connect(self.reject_requested)
        self.accept_all_button.clicked.connect(self.accept_all_requested)
        self.reject_all_button.clicked.connect(self.reject_all_requested)
        self.delete_button.clicked.connect(self.delete_requested)

        buttons = QGridLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.accept_button, 0, 0)
        buttons.addWidget(self.reject_button, 0, 1)
        buttons.addWidget(self.delete_button, 0, 2)
        buttons.addWidget(self.accept_all_button, 1, 0)
        buttons.addWidget(self.reject_all_button, 1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Label"))
        layout.addWidget(self.label_field)
        layout.addWidget(self.count_label)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self._boxes: dict[int, Box] = {}
        self._selected: Box | None = None
        self._update_buttons()

    # --- showing -----------------------------------------------------------------------------

    def set_labels(self, names: Iterable[str]) -> None:
        self.label_model.setStringList(list(names))

    @property
    def label(self) -> str:
        return self.label_field.text().strip()

    def set_boxes(self, boxes: Mapping[int, Box], touched: Iterable[int] | None = None) -> None:
        """Show ``boxes``; with ``touched`` only those rows are redone (an edit), else all."""
        self._boxes = dict(boxes)
        blocked = self.list.blockSignals(True)
        try:
            if touched is None:
                self.list.clear()
                for box in boxes.values():
                    self.list.addItem(self._new_item(box))
            else:
                for box_id in touched:
                    self._sync_row(box_id)
        finally:
            self.list.blockSignals(blocked)
        waiting = sum(1 for b in boxes.values() if b.status == "suggested")
        kept = len(boxes) - waiting
        self.count_label.setText(
            f"{kept} box{'' if kept == 1 else 'es'}"
            + (f", {waiting} suggestion{'' if waiting == 1 else 's'} to review" if waiting else "")
        )
        self._update_buttons()

    def _sync_row(self, box_id: int) -> None:
        row = self._row_of(box_id)
        box = self._boxes.get(box_id)
        if box is None:
            if row is not None:
                self.list.takeItem(row)
            return
        if row is not None:
            self._style(self.list.item(row), box)
            return
        at = next(
            (i for i in range(self.list.count()) if self.list.item(i).data(ID_ROLE) > box_id),
            self.list.count(),
        )
        self.list.insertItem(at, self._new_item(box))

    def _row_of(self, box_id: int) -> int | None:
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == box_id:
                return row
        return None

    def _new_item(self, box: Box) -> QListWidgetItem:
        item = QListWidgetItem()
        item.setData(ID_ROLE, box.id)
        self._style(item, box)
        return item

    def _style(self, item: QListWidgetItem, box: Box) -> None:
        item.setText(box_text(box))
        rgb = SUGGESTED if box.status == "suggested" else label_colour(box.label)
        item.setForeground(QBrush(QColor(*rgb).darker(165)))

    def select(self, box_id: int | None) -> None:
        """Show ``box_id`` as the selected one (from the canvas; emits nothing)."""
        blocked = self.list.blockSignals(True)
        row = None if box_id is None else self._row_of(box_id)
        if row is None:
            self.list.setCurrentRow(-1)
            self.list.clearSelection()
        else:
            self.list.setCurrentRow(row)
            self.list.scrollToItem(self.list.item(row))
        self.list.blockSignals(blocked)
        self._show_selected(None if box_id is None else self._boxes.get(box_id))

    def _current_changed(self, current: QListWidgetItem | None, _old: object) -> None:
        box_id = -1 if current is None else int(current.data(ID_ROLE))
        self._show_selected(self._boxes.get(box_id))
        self.box_selected.emit(box_id)

    def _show_selected(self, box: Box | None) -> None:
        self._selected = box
        if box is not None:
            self.label_field.setText(box.label)
        self._update_buttons()

    def _update_buttons(self) -> None:
        box = self._selected if self._selected is None else self._boxes.get(self._selected.id)
        suggested = box is not None and box.status == "suggested"
        any_suggested = any(b.status == "suggested" for b in self._boxes.values())
        self.accept_button.setEnabled(suggested or (box is None and any_suggested))
        self.reject_button.setEnabled(suggested or (box is None and any_suggested))
        self.accept_all_button.setEnabled(any_suggested)
        self.reject_all_button.setEnabled(any_suggested)
        self.delete_button.setEnabled(box is not None)
