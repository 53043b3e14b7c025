"""Page 1, Data: which captioned photos to fine-tune on (format, folder or file, image folder)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
    QWizardPage,
)

from dclip_app.finetune.context import WizardContext
from dclip_app.finetune.data_sources import (
    ALL_LIBRARY,
    DATA_FORMATS,
    DataChoice,
    display_path,
    guess_format,
)


class PathField(QWidget):
    """A line edit with a Browse… button that picks a folder or a file."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setClearButtonEnabled(True)
        self.browse = QPushButton("Browse…")
        self.pick_file = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)
        self.browse.clicked.connect(self._browse)

    def path(self) -> Path | None:
        text = self.edit.text().strip()
        return Path(text).expanduser() if text else None

    def _browse(self) -> None:
        start = str(self.path() or Path.home())
        if self.pick_file:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose the file", start)
        else:
            chosen = QFileDialog.getExistingDirectory(self, "Choose the folder", start)
        if chosen:
            self.edit.setText(display_path(Path(chosen)))


class DataPage(QWizardPage):
    """Choose the data format and its paths; Next is enabled once the choice can be checked."""

    def __init__(self, context: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setTitle("Your captioned photos")
        self.setSubTitle(
            "Fine-tuning teaches the model your words for your photos. Choose photos that have "
            "captions: it checks them next, before anything is trained."
        )
        self.format_box = QComboBox()
        for fmt in DATA_FORMATS.values():
            self.format_box.addItem(fmt.label, fmt.key)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        self.scope_box = QComboBox()
        self.scope_box.addItem("Every annotated photo", ALL_LIBRARY)
        for folder in context.library_folders:
            self.scope_box.addItem(display_path(folder), str(folder))
        self.path_field = PathField()
        self.images_field = PathField()
        self.problem_label = QLabel()
        self.problem_label.setObjectName("problem")
        self.problem_label.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow("", self.hint)
        form.addRow("Photos", self.scope_box)
        form.addRow("Folder", self.path_field)
        form.addRow("Images", self.images_field)
        form.addRow("", self.problem_label)
        self._form = form
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.scope_box.currentIndexChanged.connect(self._changed)
        self.path_field.edit.textChanged.connect(self._path_edited)
        self.images_field.edit.textChanged.connect(self._changed)
        self.set_choice(DataChoice("folder") if not context.library_folders else None)

    # --- the choice ----------------------------------------------------------------------------

    def set_choice(self, choice: DataChoice | None) -> None:
        """Show ``choice`` (None: the library's annotations, every folder)."""
        choice = choice or DataChoice("library")
        self.format_box.setCurrentIndex(self.format_box.findData(choice.format))
        if choice.format == "library":
            index = self.scope_box.findData(str(choice.path)) if choice.path else 0
            self.scope_box.setCurrentIndex(max(0, index))
        else:
            self.path_field.edit.setText(display_path(choice.path) if choice.path else "")
            self.images_field.edit.setText(display_path(choice.images) if choice.images else "")
        self._format_changed()

    def choice(self) -> DataChoice:
        key = str(self.format_box.currentData())
        if key == "library":
            scope = str(self.scope_box.currentData())
            return DataChoice("library", None if scope == ALL_LIBRARY else Path(scope))
        return DataChoice(key, self.path_field.path(), self.images_field.path())

    def _format_changed(self) -> None:
        fmt = DATA_FORMATS[str(self.format_box.currentData())]
        self.hint.setText(fmt.hint)
        library = fmt.key == "library"
        self._form.setRowVisible(self.scope_box, library)
        self._form.setRowVisible(self.path_field, not library)
        self._form.setRowVisible(self.images_field, fmt.needs_images)
        label = self._form.labelForField(self.path_field)
        if isinstance(label, QLabel):
            label.setText(fmt.path_label)
        self.path_field.pick_file = fmt.pick_file
        self._changed()

    def _path_edited(self) -> None:
        path = self.path_field.path()
        folder = self.format_box.currentData() == "folder"
        # A shapes-world folder's boxes are worth having as regions.
        if folder and path is not None and path.is_dir() and guess_format(path) == "shapes":
            self.format_box.setCurrentIndex(self.format_box.findData("shapes"))
        self._changed()

    def _changed(self) -> None:
        problem = self.choice().problem()
        self.problem_label.setText(problem or "")
        self.completeChanged.emit()

    # --- QWizardPage ---------------------------------------------------------------------------

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        return self.choice().problem() is None

    def validatePage(self) -> bool:  # noqa: N802 - Qt's name
        self.context.data = self.choice()
        return True
