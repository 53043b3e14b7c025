"""A photo's captions: add, edit, reorder, delete, and link words of a caption to a box.

A thin view over :class:`~dclip_app.annotate.photo_state.PhotoAnnotations`. The list shows the
captions in order (double-click edits one in place; drag one, or use Move up/down, to reorder);
under it the selected caption is shown as text whose linked words are highlighted. Select words
there, select a box on the photo, and "Link words to box" stores the span; the links list below
names each span and its box, and unlinks.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from dclip_app.annotate.photo_state import PhotoAnnotations
from dclip_app.annotate.spans import from_utf16, to_utf16, trimmed

ID_ROLE = Qt.ItemDataRole.UserRole
LINK_COLOUR = QColor(255, 214, 0, 150)
SELECTED_LINK_COLOUR = QColor(255, 120, 200, 170)


class CaptionPanel(QWidget):
    """Captions of one photo and their span links."""

    caption_added = Signal(str)
    caption_edited = Signal(int, str)  # caption id, new text
    caption_moved = Signal(int, int)  # caption id, new position
    caption_deleted = Signal(int)
    caption_selected = Signal(int)  # caption id, -1: none
    link_requested = Signal(int, int, int)  # caption id, start, end (Python characters)
    unlink_requested = Signal(int)  # link id
    link_selected = Signal(int)  # the box id of the selected link, -1: none

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: PhotoAnnotations | None = None
        self.box_selected = False

        self.new_field = QLineEdit()
        self.new_field.setObjectName("NewCaptionField")
        self.new_field.setPlaceholderText("New caption, e.g. “a cat asleep on a red sofa”")
        self.new_field.returnPressed.connect(self._add)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self._add)

        self.list = QListWidget()
        self.list.setObjectName("CaptionList")
        self.list.setWordWrap(True)
        self.list.setMinimumHeight(80)
        self.list.setMaximumHeight(160)
        self.list.currentItemChanged.connect(lambda *_: self._current_changed())
        self.list.itemChanged.connect(self._item_edited)
        # Drag a caption to reorder: the list moves its item, the move is stored (and undoable)
        # like Move up/down, and the list is shown again from what was stored.
        self.list.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.list.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.list.model().rowsMoved.connect(self._dragged)
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.delete_button = QPushButton("Delete")
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(+1))
        self.delete_button.clicked.connect(self._delete)

        self.text_view = QPlainTextEdit()
        self.text_view.setObjectName("CaptionText")
        self.text_view.setReadOnly(True)
        self.text_view.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.text_view.setMaximumHeight(60)
        self.text_view.setPlaceholderText("Select a caption, then words of it to link to a box")
        self.text_view.selectionChanged.connect(self._update_buttons)
        self.link_button = QPushButton("Link words to box")
        self.link_button.clicked.connect(self.request_link)
        self.links = QListWidget()
        self.links.setObjectName("LinkList")
        self.links.setMaximumHeight(72)
        self.links.currentItemChanged.connect(lambda *_: self._link_changed())
        self.unlink_button = QPushButton("Unlink")
        self.unlink_button.clicked.connect(self._unlink)

        add_row = QHBoxLayout()
        add_row.addWidget(self.new_field, 1)
        add_row.addWidget(self.add_button)
        order_row = QHBoxLayout()
        order_row.addWidget(self.up_button)
        order_row.addWidget(self.down_button)
        order_row.addWidget(self.delete_button)
        link_row = QHBoxLayout()
        link_row.addWidget(self.link_button)
        link_row.addWidget(self.unlink_button)
        link_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(add_row)
        layout.addWidget(self.list, 1)
        layout.addLayout(order_row)
        hint = QLabel("Select words of the caption and a box on the photo, then link them:")
        hint.setObjectName("HelpText")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addWidget(self.text_view)
        layout.addLayout(link_row)
        layout.addWidget(self.links)
        self._update_buttons()

    # --- showing -----------------------------------------------------------------------------

    @property
    def current_caption(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(ID_ROLE))

    def show_state(self, state: PhotoAnnotations | None, *, keep: int | None = None) -> None:
        """Show ``state``'s captions, keeping caption ``keep`` (else the current one) selected."""
        self.state = state
        keep = self.current_caption if keep is None else keep
        blocked = self.list.blockSignals(True)
        self.list.clear()
        for caption in state.captions if state is not None else []:
            count = len(state.links_of_caption(caption.id)) if state is not None else 0
            item = QListWidgetItem(caption.text)
            item.setData(ID_ROLE, caption.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(
                f"{count} linked span(s); double-click to edit" if count else "Double-click to edit"
            )
            self.list.addItem(item)
            if caption.id == keep:
                self.list.setCurrentItem(item)
        self.list.blockSignals(blocked)
        self._show_caption()

    def select_caption(self, caption_id: int | None) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == caption_id:
                self.list.setCurrentRow(row)
                return
        self.list.setCurrentRow(-1)

    def _current_changed(self) -> None:
        self._show_caption()
        caption = self.current_caption
        self.caption_selected.emit(-1 if caption is None else caption)

    def _show_caption(self) -> None:
        """The selected caption as selectable text, its linked words highlighted; its links."""
        state, caption_id = self.state, self.current_caption
        caption = state.caption(caption_id) if state is not None and caption_id else None
        self.text_view.setPlainText(caption.text if caption is not None else "")
        blocked = self.links.blockSignals(True)
        self.links.clear()
        if caption is not None and state is not None:
            for link in state.links_of_caption(caption.id):
                box = state.boxes.get(link.box_id)
                words = caption.text[link.start : link.end]
                target = f"{box.label} box" if box is not None else "a hidden box"
                item = QListWidgetItem(f"“{words}” → {target}")
                item.setData(ID_ROLE, link.id)
                self.links.addItem(item)
        self.links.blockSignals(blocked)
        self._highlight(None)
        self._update_buttons()

    def _highlight(self, selected_link: int | None) -> None:
        state, caption_id = self.state, self.current_caption
        selections = []
        if state is not None and caption_id is not None:
            caption = state.caption(caption_id)
            for link in state.links_of_caption(caption_id) if caption is not None else []:
                assert caption is not None
                selection = QTextEdit.ExtraSelection()
                cursor = QTextCursor(self.text_view.document())
                cursor.setPosition(to_utf16(caption.text, link.start))
                cursor.setPosition(
                    to_utf16(caption.text, link.end), QTextCursor.MoveMode.KeepAnchor
                )
                fmt = QTextCharFormat()
                colour = SELECTED_LINK_COLOUR if link.id == selected_link else LINK_COLOUR
                fmt.setBackground(colour)
                selection.cursor = cursor
                selection.format = fmt
                selections.append(selection)
        self.text_view.setExtraSelections(selections)

    def selected_span(self) -> tuple[int, int] | None:
        """The words selected in the caption text, in Python characters, or None."""
        cursor = self.text_view.textCursor()
        text = self.text_view.toPlainText()
        if not cursor.hasSelection() or not text:
            return None
        start = from_utf16(text, cursor.selectionStart())
        end = from_utf16(text, cursor.selectionEnd())
        start, end = trimmed(text, start, end)
        return (start, end) if end > start else None

    def set_span_selection(self, start: int, end: int) -> None:
        """Select characters ``[start, end)`` of the shown caption (as a mouse drag would)."""
        text = self.text_view.toPlainText()
        cursor = self.text_view.textCursor()
        cursor.setPosition(to_utf16(text, start))
        cursor.setPosition(to_utf16(text, end), QTextCursor.MoveMode.KeepAnchor)
        self.text_view.setTextCursor(cursor)

    def set_box_selected(self, selected: bool) -> None:
        self.box_selected = selected
        self._update_buttons()

    def _update_buttons(self) -> None:
        row, count = self.list.currentRow(), self.list.count()
        has = self.list.currentItem() is not None
        self.up_button.setEnabled(has and row > 0)
        self.down_button.setEnabled(has and row < count - 1)
        self.delete_button.setEnabled(has)
        self.link_button.setEnabled(has and self.box_selected and self.selected_span() is not None)
        self.unlink_button.setEnabled(self.links.currentItem() is not None)

    # --- asking ------------------------------------------------------------------------------

    def focus_new(self) -> None:
        self.new_field.setFocus()
        self.new_field.selectAll()

    def _add(self) -> None:
        text = self.new_field.text().strip()
        if text:
            self.caption_added.emit(text)
            self.new_field.clear()

    def _item_edited(self, item: QListWidgetItem) -> None:
        caption_id, text = int(item.data(ID_ROLE)), item.text()
        caption = self.state.caption(caption_id) if self.state is not None else None
        if caption is not None and text.strip() != caption.text:
            # After the list's editor has closed: the edit rebuilds the list, items included.
            QTimer.singleShot(0, lambda: self.caption_edited.emit(caption_id, text))

    def _move(self, step: int) -> None:
        caption = self.current_caption
        if caption is not None:
            self.caption_moved.emit(caption, self.list.currentRow() + step)

    def _dragged(
        self,
        _parent: QModelIndex | QPersistentModelIndex,
        start: int,
        _end: int,
        _destination: QModelIndex | QPersistentModelIndex,
        row: int,
    ) -> None:
        """A caption dragged from ``start`` to before ``row`` (rows as they were before)."""
        position = row - 1 if row > start else row
        item = self.list.item(position)
        if item is not None:
            caption_id = int(item.data(ID_ROLE))
            # After the drop has finished: storing the move shows the list again, items included.
            QTimer.singleShot(0, lambda: self.caption_moved.emit(caption_id, position))

    def _delete(self) -> None:
        caption = self.current_caption
        if caption is not None:
            self.caption_deleted.emit(caption)

    def request_link(self) -> None:
        caption, span = self.current_caption, self.selected_span()
        if caption is not None and span is not None:
            self.link_requested.emit(caption, *span)

    def _link_changed(self) -> None:
        item = self.links.currentItem()
        link_id = None if item is None else int(item.data(ID_ROLE))
        self._highlight(link_id)
        self._update_buttons()
        link = self.state.links.get(link_id) if self.state is not None and link_id else None
        self.link_selected.emit(-1 if link is None else link.box_id)

    def _unlink(self) -> None:
        item = self.links.currentItem()
        if item is not None:
            self.unlink_requested.emit(int(item.data(ID_ROLE)))
