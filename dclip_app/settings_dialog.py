"""The Settings dialog, generated from :func:`dclip_core.config.settings_fields`.

One editor per field kind (the registry :data:`EDITORS`), so a setting added to the core schema
shows up here without touching this file. Values are validated by the core before they are saved.
Fields of kind ``keys`` (keyboard shortcuts) get a page of their own; the rest share "General".
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dclip_app.annotate.shortcut_editor import ShortcutTable
from dclip_core.config import SettingField, Settings, save_settings, settings_fields
from dclip_core.config.settings import settings_from_dict, settings_to_dict
from dclip_core.errors import ConfigError


class FieldEditor(ABC):
    """A widget that edits one setting, with ``value()`` / ``set_value()``."""

    def __init__(self, spec: SettingField, widget: QWidget) -> None:
        self.spec = spec
        self.widget = widget

    @abstractmethod
    def value(self) -> Any:
        """The edited value, in the type the settings schema expects."""

    @abstractmethod
    def set_value(self, value: Any) -> None:
        """Show ``value`` in the widget."""


class _TextEditor(FieldEditor):
    def __init__(self, spec: SettingField, suggestions: Sequence[str]) -> None:
        if suggestions:
            combo = QComboBox()
            combo.setEditable(True)
            combo.addItems(list(suggestions))
            super().__init__(spec, combo)
        else:
            super().__init__(spec, QLineEdit())

    def value(self) -> str:
        w = self.widget
        return w.currentText().strip() if isinstance(w, QComboBox) else w.text().strip()  # type: ignore[attr-defined]

    def set_value(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        else:
            w.setText(str(value))  # type: ignore[attr-defined]


class _PathEditor(FieldEditor):
    def __init__(self, spec: SettingField) -> None:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.line = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        layout.addWidget(self.line, 1)
        layout.addWidget(browse)
        super().__init__(spec, row)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self.widget, self.spec.label, self.line.text())
        if chosen:
            self.line.setText(chosen)

    def value(self) -> str:
        return self.line.text().strip()

    def set_value(self, value: Any) -> None:
        self.line.setText(str(value))


class _ChoiceEditor(FieldEditor):
    def __init__(self, spec: SettingField) -> None:
        combo = QComboBox()
        combo.addItems(list(spec.choices))
        super().__init__(spec, combo)

    def value(self) -> str:
        return str(self.widget.currentText())  # type: ignore[attr-defined]

    def set_value(self, value: Any) -> None:
        self.widget.setCurrentText(str(value))  # type: ignore[attr-defined]


class _IntEditor(FieldEditor):
    def __init__(self, spec: SettingField) -> None:
        box = QSpinBox()
        box.setRange(
            int(spec.minimum) if spec.minimum is not None else -(2**31),
            int(spec.maximum) if spec.maximum is not None else 2**31 - 1,
        )
        super().__init__(spec, box)

    def value(self) -> int:
        return int(self.widget.value())  # type: ignore[attr-defined]

    def set_value(self, value: Any) -> None:
        self.widget.setValue(int(value))  # type: ignore[attr-defined]


class _FloatEditor(FieldEditor):
    def __init__(self, spec: SettingField) -> None:
        box = QDoubleSpinBox()
        box.setDecimals(2)
        box.setSingleStep(0.1)
        box.setRange(
            spec.minimum if spec.minimum is not None else -1e9,
            spec.maximum if spec.maximum is not None else 1e9,
        )
        super().__init__(spec, box)

    def value(self) -> float:
        return float(self.widget.value())  # type: ignore[attr-defined]

    def set_value(self, value: Any) -> None:
        self.widget.setValue(float(value))  # type: ignore[attr-defined]


class _BoolEditor(FieldEditor):
    def __init__(self, spec: SettingField) -> None:
        super().__init__(spec, QCheckBox())

    def value(self) -> bool:
        return bool(self.widget.isChecked())  # type: ignore[attr-defined]

    def set_value(self, value: Any) -> None:
        self.widget.setChecked(bool(value))  # type: ignore[attr-defined]


class _ListEditor(FieldEditor):
    """One entry per line; blank lines are dropped."""

    def __init__(self, spec: SettingField) -> None:
        edit = QPlainTextEdit()
        edit.setPlaceholderText("one per line")
        edit.setFixedHeight(72)
        super().__init__(spec, edit)

    def value(self) -> list[str]:
        text = self.widget.toPlainText()  # type: ignore[attr-defined]
        return [line.strip() for line in text.splitlines() if line.strip()]

    def set_value(self, value: Any) -> None:
        self.widget.setPlainText("\n".join(value))  # type: ignore[attr-defined]


class _KeysEditor(FieldEditor):
    """Keyboard shortcuts: a key field per action; the value is the keys changed from default."""

    def __init__(self, spec: SettingField) -> None:
        self.table = ShortcutTable()
        super().__init__(spec, self.table)

    def value(self) -> dict[str, str]:
        return self.table.overrides()

    def set_value(self, value: Any) -> None:
        self.table.set_overrides(value)


EditorFactory = Callable[[SettingField, Sequence[str]], FieldEditor]

EDITORS: dict[str, EditorFactory] = {
    "str": lambda spec, suggestions: _TextEditor(spec, suggestions),
    "path": lambda spec, _s: _PathEditor(spec),
    "choice": lambda spec, _s: _ChoiceEditor(spec),
    "int": lambda spec, _s: _IntEditor(spec),
    "float": lambda spec, _s: _FloatEditor(spec),
    "bool": lambda spec, _s: _BoolEditor(spec),
    "list": lambda spec, _s: _ListEditor(spec),
    "keys": lambda spec, _s: _KeysEditor(spec),
}
PAGE_KINDS = ("keys",)  # kinds shown on a page of their own, not in the General form


def default_suggestions() -> dict[str, Sequence[str]]:
    """Values offered in the editable fields: the registered models, plus the exported bundles."""
    from dclip_core.config import get_paths
    from dclip_core.models import list_model_specs

    bundles_dir = get_paths().bundles_dir
    bundles = sorted(p.name for p in bundles_dir.iterdir()) if bundles_dir.is_dir() else []
    names = [spec.name for spec in list_model_specs()]
    return {"model": [*names, *(b for b in bundles if b not in names)]}


class SettingsDialog(QDialog):
    """Edit and save :class:`Settings`; ``saved`` holds what was written after ``accept``."""

    def __init__(
        self,
        settings: Settings,
        *,
        suggestions: dict[str, Sequence[str]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("DCLIP Settings")
        self.setMinimumWidth(560)
        self.saved: Settings | None = None
        self.editors: dict[str, FieldEditor] = {}
        suggestions = default_suggestions() if suggestions is None else suggestions

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(4)
        self.tabs = QTabWidget()
        for spec in settings_fields():
            editor = EDITORS[spec.kind](spec, suggestions.get(spec.name, ()))
            editor.set_value(getattr(settings, spec.name))
            editor.widget.setToolTip(spec.help)
            editor.widget.setObjectName(f"setting_{spec.name}")
            self.editors[spec.name] = editor
            if spec.kind in PAGE_KINDS:
                self.tabs.addTab(self._page(spec, editor), spec.label)
                continue
            help_label = QLabel(spec.help)
            help_label.setObjectName("HelpText")
            help_label.setWordWrap(True)
            cell = QWidget()
            cell_layout = QVBoxLayout(cell)
            cell_layout.setContentsMargins(0, 0, 0, 8)
            cell_layout.setSpacing(2)
            cell_layout.addWidget(editor.widget)
            cell_layout.addWidget(help_label)
            form.addRow(f"{spec.label}:", cell)

        self.error_label = QLabel()
        self.error_label.setObjectName("FirstRunError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        restore.clicked.connect(self.restore_defaults)

        general = QWidget()
        general_layout = QVBoxLayout(general)
        general_layout.addLayout(form)
        general_layout.addStretch(1)  # spare height goes below the form, not into its rows
        self.tabs.insertTab(0, general, "General")
        self.tabs.setCurrentIndex(0)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

    @staticmethod
    def _page(spec: SettingField, editor: FieldEditor) -> QWidget:
        """A tab for one large setting: its help above it, scrolling when the dialog is small."""
        page = QWidget()
        page_layout = QVBoxLayout(page)
        help_label = QLabel(spec.help)
        help_label.setObjectName("HelpText")
        help_label.setWordWrap(True)
        page_layout.addWidget(help_label)
        page_layout.addWidget(editor.widget)
        page_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(page)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        return scroll

    def current_settings(self) -> Settings:
        """The settings as edited, checked by the core schema.

        Raises:
            ValueError: a value the schema refuses (the message names the setting).
        """
        data = settings_to_dict(Settings())
        data.update({name: editor.value() for name, editor in self.editors.items()})
        return settings_from_dict(data)

    def restore_defaults(self) -> None:
        defaults = Settings()
        for field in dataclasses.fields(defaults):
            if field.name in self.editors:
                self.editors[field.name].set_value(getattr(defaults, field.name))

    def accept(self) -> None:
        try:
            settings = self.current_settings()
            save_settings(settings)
        except (ValueError, ConfigError, OSError) as exc:
            # Stay open and say what is wrong; nothing was written.
            self.error_label.setText(f"Not saved: {exc}")
            self.error_label.show()
            return
        self.saved = settings
        super().accept()
