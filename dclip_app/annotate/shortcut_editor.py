"""The Settings page that rebinds the annotation window's keys: one row per action.

Each row has a key field (press the new key; the clear button leaves the action without one) and
shows the default. :meth:`ShortcutTable.overrides` is what the settings file keeps: only the keys
that differ from the defaults (:func:`dclip_app.annotate.shortcuts.overrides_of`).
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QGridLayout,
    QKeySequenceEdit,
    QLabel,
    QPushButton,
    QWidget,
)

from dclip_app.annotate.shortcuts import SHORTCUT_ACTIONS, bindings, conflicts, overrides_of


class ShortcutTable(QWidget):
    """Key fields for every action of the shortcut table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ShortcutTable")
        self.fields: dict[str, QKeySequenceEdit] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(3)
        group = ""
        row = 0
        for action in SHORTCUT_ACTIONS:
            if action.group != group:
                group = action.group
                heading = QLabel(f"<b>{group}</b>")
                grid.addWidget(heading, row, 0, 1, 3)
                row += 1
            field = QKeySequenceEdit()
            field.setObjectName(f"key_{action.name}")
            field.setMaximumSequenceLength(1)
            field.setClearButtonEnabled(True)
            reset = QPushButton("Default")
            reset.setToolTip(f"Back to {action.default}")
            reset.clicked.connect(
                lambda _=False, f=field, key=action.default: f.setKeySequence(QKeySequence(key))
            )
            grid.addWidget(QLabel(action.text), row, 0)
            grid.addWidget(field, row, 1)
            grid.addWidget(reset, row, 2)
            self.fields[action.name] = field
            row += 1
        grid.setColumnStretch(0, 1)

    def keys(self) -> dict[str, str]:
        """Every action's key as edited (portable text, ``""`` for none)."""
        return {
            name: field.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
            for name, field in self.fields.items()
        }

    def overrides(self) -> dict[str, str]:
        """The keys to store: those that differ from the defaults.

        Raises:
            ValueError: two actions share a key (the message names both).
        """
        keys = self.keys()
        clashes = conflicts(keys)
        if clashes:
            key, first, second = clashes[0]
            raise ValueError(f"shortcuts: {key} is set for both “{first}” and “{second}”")
        return overrides_of(keys)

    def set_overrides(self, overrides: Mapping[str, str]) -> None:
        for name, key in bindings(overrides).items():
            self.fields[name].setKeySequence(QKeySequence(key))
