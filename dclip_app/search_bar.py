"""The search controls: text with weights, "without" terms, an example image, dates and sort.

Typing searches as you go (debounced); every change emits :attr:`SearchBar.query_changed` with a
:class:`QueryInput` — plain strings and dates, turned into a core ``SearchQuery`` by
:func:`dclip_app.searching.build_query`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dclip_app.resources import icon

if TYPE_CHECKING:
    from dclip_core.library.query import SortOrder

DEBOUNCE_MS = 250
IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif",
}  # fmt: skip

SORT_CHOICES: tuple[tuple[str, SortOrder], ...] = (
    ("Best match", "score"),
    ("Newest first", "date_desc"),
    ("Oldest first", "date_asc"),
)

SYNTAX_HELP = """<b>How to search</b><br>
Describe the photo in plain words: <i>two dogs playing in the snow</i>.<br><br>
<b>Several ideas</b> — separate them with commas: <i>beach, sunset</i><br>
<b>Weights</b> — put a number and a colon before a term:
<i>2:sunset, beach</i> counts “sunset” twice as much.<br>
<b>Without</b> — terms in the <i>Without</i> field push results away:
<i>people, cars</i>.<br>
<b>By example</b> — drop a photo on the example area (or pick one), alone or with words.<br>
<b>Find similar</b> — right-click a result, or press the button in the detail pane.<br><br>
Scores are cosine similarities. Results under the dashed line scored below the
<b>relevance cutoff</b>: they do not stand out from the rest of your library for this query.
"""


@dataclass(frozen=True)
class QueryInput:
    """What the user has typed and picked, as plain values."""

    text: str = ""
    without: str = ""
    example_path: Path | None = None
    example_image_id: int | None = None
    after: date | None = None
    before: date | None = None
    sort: SortOrder = "score"
    folders: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def is_empty(self) -> bool:
        return not (self.text.strip() or self.example_path or self.example_image_id is not None)


class ExampleDropArea(QLabel):
    """Accepts an image file dropped on it; shows which example is active."""

    example_dropped = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DropArea")
        self.setAcceptDrops(True)
        self.setMinimumWidth(150)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.show_idle()

    def show_idle(self) -> None:
        self.setText("Drop a photo: search by example")
        self.setToolTip("Drop an image file here to find photos that look like it")

    def show_example(self, label: str) -> None:
        self.setText(f"Like: {label}")
        self.setToolTip(label)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if _dropped_image(event) is not None:
            self.setProperty("active", True)
            self.style().polish(self)
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: object) -> None:  # noqa: N802
        self.setProperty("active", False)
        self.style().polish(self)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.setProperty("active", False)
        self.style().polish(self)
        path = _dropped_image(event)
        if path is not None:
            event.acceptProposedAction()
            self.example_dropped.emit(path)


def _dropped_image(event: QDragEnterEvent | QDropEvent) -> Path | None:
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                return path
    return None


class SyntaxHelpPopup(QFrame):
    """A small popover explaining the query syntax."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        label = QLabel(SYNTAX_HELP)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setFixedWidth(420)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.addWidget(label)


class SearchBar(QWidget):
    """Search field, negative terms, example image, date range and sort order."""

    query_changed = Signal(object)  # QueryInput

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._example_path: Path | None = None
        self._example_image_id: int | None = None
        self._folders: tuple[Path, ...] = ()

        self.text_field = QLineEdit()
        self.text_field.setObjectName("SearchField")
        self.text_field.setPlaceholderText(
            "Describe a photo… e.g.  dog on a beach at sunset,  2:golden light"
        )
        self.text_field.setClearButtonEnabled(True)
        self.text_field.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)

        self.without_field = QLineEdit()
        self.without_field.setPlaceholderText("Without… e.g.  people, cars")
        self.without_field.setClearButtonEnabled(True)
        self.without_field.setMaximumWidth(260)

        self.help_button = QToolButton()
        self.help_button.setIcon(icon("help"))
        self.help_button.setToolTip("How to write a search")
        self.help_button.clicked.connect(self.show_help)
        self.help_popup = SyntaxHelpPopup(self)

        self.drop_area = ExampleDropArea()
        self.drop_area.example_dropped.connect(self.set_example_path)
        self.clear_example_button = QToolButton()
        self.clear_example_button.setIcon(icon("clear"))
        self.clear_example_button.setToolTip("Stop searching by example")
        self.clear_example_button.clicked.connect(self.clear_example)
        self.clear_example_button.hide()

        self.after_edit = _optional_date_edit("Any start date")
        self.before_edit = _optional_date_edit("Any end date")
        self.sort_combo = QComboBox()
        for label, value in SORT_CHOICES:
            self.sort_combo.addItem(label, value)

        top = QHBoxLayout()
        top.addWidget(self.text_field, 1)
        top.addWidget(self.without_field)
        top.addWidget(self.help_button)
        example_row = QHBoxLayout()
        example_row.addWidget(self.drop_area, 1)
        example_row.addWidget(self.clear_example_button)
        filter_row = QHBoxLayout()
        filter_row.addWidget(QLabel("Taken"))
        filter_row.addWidget(self.after_edit)
        filter_row.addWidget(QLabel("to"))
        filter_row.addWidget(self.before_edit)
        filter_row.addSpacing(12)
        filter_row.addWidget(QLabel("Sort"))
        filter_row.addWidget(self.sort_combo)
        bottom = QHBoxLayout()
        bottom.addLayout(example_row, 1)
        bottom.addSpacing(12)
        bottom.addLayout(filter_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(bottom)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.emit_now)
        self.text_field.textChanged.connect(self._debounce.start)
        self.without_field.textChanged.connect(self._debounce.start)
        self.text_field.returnPressed.connect(self.emit_now)
        self.without_field.returnPressed.connect(self.emit_now)
        self.after_edit.dateChanged.connect(self.emit_now)
        self.before_edit.dateChanged.connect(self.emit_now)
        self.sort_combo.currentIndexChanged.connect(self.emit_now)

    def current(self) -> QueryInput:
        return QueryInput(
            text=self.text_field.text(),
            without=self.without_field.text(),
            example_path=self._example_path,
            example_image_id=self._example_image_id,
            after=_date_of(self.after_edit),
            before=_date_of(self.before_edit),
            sort=SORT_CHOICES[max(self.sort_combo.currentIndex(), 0)][1],
            folders=self._folders,
        )

    def emit_now(self) -> None:
        self._debounce.stop()
        self.query_changed.emit(self.current())

    def set_folders(self, folders: tuple[Path, ...]) -> None:
        self._folders = folders
        self.emit_now()

    def set_example_path(self, path: Path) -> None:
        self._example_path = path
        self._example_image_id = None
        self.drop_area.show_example(path.name)
        self.clear_example_button.show()
        self.emit_now()

    def set_example_image(self, image_id: int, label: str) -> None:
        """Search for photos like a library image ("find similar")."""
        self._example_path = None
        self._example_image_id = image_id
        self.drop_area.show_example(label)
        self.clear_example_button.show()
        self.emit_now()

    def clear_example(self) -> None:
        self._example_path = None
        self._example_image_id = None
        self.drop_area.show_idle()
        self.clear_example_button.hide()
        self.emit_now()

    def set_date_range(self, after: date | None, before: date | None) -> None:
        for edit, value in ((self.after_edit, after), (self.before_edit, before)):
            edit.blockSignals(True)
            edit.setDate(QDate(value.year, value.month, value.day) if value else edit.minimumDate())
            edit.blockSignals(False)
        self.emit_now()

    def show_help(self) -> None:
        self.help_popup.adjustSize()
        anchor = self.help_button.mapToGlobal(QPoint(0, self.help_button.height()))
        self.help_popup.move(
            anchor.x() - self.help_popup.width() + self.help_button.width(), anchor.y()
        )
        self.help_popup.show()


def _optional_date_edit(any_text: str) -> QDateEdit:
    """A date edit whose minimum value reads as "any date" (no filter)."""
    edit = QDateEdit()
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMinimumDate(QDate(1900, 1, 1))
    edit.setSpecialValueText(any_text)
    edit.setDate(edit.minimumDate())
    edit.setMinimumWidth(100)
    return edit


def _date_of(edit: QDateEdit) -> date | None:
    value = edit.date()
    if value == edit.minimumDate():
        return None
    return date(value.year(), value.month(), value.day())
