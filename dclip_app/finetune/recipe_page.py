"""Page 3, Recipe: quick, paper or custom; every knob with its value and one line on what it does.

This is the wizard's commit page: its Next ("Start training") starts the run, after which the
pages before it are closed.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from dclip_app.finetune.context import WizardContext
from dclip_app.finetune.recipes import (
    KNOBS,
    RECIPE_SUMMARIES,
    RECIPE_VALUES,
    REGION_CHOICES,
    TRAINABLE_CHOICES,
    RecipeChoice,
    format_value,
)


def _explained(widget: QWidget, explanation: str) -> QWidget:
    """``widget`` with its one-line explanation beside it."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(widget)
    hint = QLabel(explanation)
    hint.setObjectName("hint")
    hint.setWordWrap(True)
    row.addWidget(hint, 1)
    return box


class RecipePage(QWizardPage):
    """Pick a recipe; custom exposes steps, learning rates, batch size, held-out share, regions."""

    def __init__(self, context: WizardContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setTitle("How to train")
        self.setSubTitle("The quick recipe suits most folders; each value is explained below.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.buttons = QButtonGroup(self)
        choices = QVBoxLayout()
        for name in ("quick", "paper", "custom"):
            button = QRadioButton(f"{name.capitalize()}: {RECIPE_SUMMARIES[name]}")
            button.setObjectName(name)
            self.buttons.addButton(button)
            choices.addWidget(button)
        self.buttons.buttons()[0].setChecked(True)
        self.table = self._values_table()
        self.custom = self._custom_box()
        layout = QVBoxLayout(self)
        layout.addLayout(choices)
        layout.addWidget(self.table)
        layout.addWidget(self.custom)
        self.buttons.buttonToggled.connect(self._recipe_changed)
        self._recipe_changed()

    def _values_table(self) -> QTableWidget:
        table = QTableWidget(len(KNOBS), 4)
        table.setHorizontalHeaderLabels(["", "quick", "paper", "what it does"])
        for row, knob in enumerate(KNOBS):
            cells = [
                knob.label,
                format_value(RECIPE_VALUES["quick"][knob.key]),
                format_value(RECIPE_VALUES["paper"][knob.key]),
                knob.explanation,
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                table.setItem(row, column, item)
        table.verticalHeader().hide()
        table.horizontalHeader().setStretchLastSection(True)
        table.resizeColumnsToContents()
        table.resizeRowsToContents()
        height = table.verticalHeader().length() + table.horizontalHeader().sizeHint().height()
        table.setFixedHeight(height + 2 * table.frameWidth())
        return table

    def _custom_box(self) -> QGroupBox:
        box = QGroupBox("Custom values (0 steps: as many as the recipe's epochs give)")
        form = QFormLayout(box)
        self.teacher_steps = QSpinBox()
        self.student_steps = QSpinBox()
        for spin in (self.teacher_steps, self.student_steps):
            spin.setRange(0, 1_000_000)
        self.teacher_lr = QLineEdit(format_value(RECIPE_VALUES["quick"]["teacher.lr"]))
        self.student_lr = QLineEdit(format_value(RECIPE_VALUES["quick"]["student.lr"]))
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setValue(int(str(RECIPE_VALUES["quick"]["teacher.batch_size"])))
        self.held_out = QDoubleSpinBox()
        self.held_out.setRange(0.05, 0.5)
        self.held_out.setSingleStep(0.05)
        self.held_out.setValue(0.2)
        self.regions = QComboBox()
        for key, text in REGION_CHOICES.items():
            self.regions.addItem(text, key)
        form.addRow("Teacher steps", _explained(self.teacher_steps, "stop the teacher here"))
        form.addRow("Student steps", _explained(self.student_steps, "stop the student here"))
        form.addRow("Teacher learning rate", _explained(self.teacher_lr, "e.g. 1e-4"))
        form.addRow(
            "Student learning rate", _explained(self.student_lr, "larger forgets more; e.g. 1e-5")
        )
        form.addRow("Batch size", _explained(self.batch, "photos per step, both stages"))
        self.split_hint = QLabel()
        self.split_hint.setObjectName("hint")
        self.held_out.valueChanged.connect(self._show_split)
        held_row = _explained(self.held_out, "share measured on, never trained on")
        held_row.layout().addWidget(self.split_hint)  # type: ignore[union-attr]
        form.addRow("Held out", held_row)
        form.addRow("Regions", self.regions)
        self.trainable = QComboBox()
        for key, text in TRAINABLE_CHOICES.items():
            self.trainable.addItem(text, key)
        form.addRow("Train", self.trainable)
        self.hard_negatives = QCheckBox("Hard negatives")
        form.addRow(
            "",
            _explained(
                self.hard_negatives,
                "each photo must prefer its caption to the same words swapped (“a red cup left "
                "of a blue plate” → “a blue plate left of a red cup”): learns word order and "
                "which colour is whose; needs several hundred photos and both towers trained",
            ),
        )
        for edit in (self.teacher_lr, self.student_lr):
            edit.textChanged.connect(self.completeChanged)
        return box

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        self._show_split()

    def _show_split(self) -> None:
        """What the chosen share makes of the checked photos: "about 12 to train on, 12 held
        out" (the Check page showed the split at the recipes' 0.2)."""
        check = self.context.check
        if check is None or check.train + check.held_out == 0:
            self.split_hint.setText("")
            return
        train, held = check.split_at(self.held_out.value())
        self.split_hint.setText(f"about {train} to train on, {held} held out")

    def _recipe_changed(self) -> None:
        self.custom.setEnabled(self.recipe_name() == "custom")
        self.completeChanged.emit()

    def recipe_name(self) -> str:
        checked = self.buttons.checkedButton()
        return checked.objectName() if checked is not None else "quick"

    def select(self, name: str) -> None:
        for button in self.buttons.buttons():
            button.setChecked(button.objectName() == name)

    def choice(self) -> RecipeChoice:
        """The recipe as chosen (custom values parsed; an invalid learning rate reads as None)."""
        name = self.recipe_name()
        if name != "custom":
            return RecipeChoice(name)
        return RecipeChoice(
            "custom",
            teacher_steps=self.teacher_steps.value() or None,
            student_steps=self.student_steps.value() or None,
            teacher_lr=_positive(self.teacher_lr.text()),
            student_lr=_positive(self.student_lr.text()),
            batch_size=self.batch.value(),
            held_out=round(self.held_out.value(), 3),
            regions=str(self.regions.currentData()),
            trainable=str(self.trainable.currentData()),
            hard_negatives=self.hard_negatives.isChecked(),
        )

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        choice = self.choice()
        return choice.name != "custom" or None not in (choice.teacher_lr, choice.student_lr)

    def validatePage(self) -> bool:  # noqa: N802 - Qt's name
        self.context.recipe = self.choice()
        return True


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None
