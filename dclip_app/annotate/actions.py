"""The annotation window's actions, one QAction per row of the shortcut table.

Their keys come from :func:`dclip_app.annotate.shortcuts.bindings` (defaults plus the user's
changes from Settings) and can be swapped while the window is open (:meth:`AnnotateActions.apply`).
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from dclip_app.annotate.shortcuts import PREFIX, SHORTCUT_ACTIONS, bindings


class AnnotateActions:
    """Every shortcut action of the window, by short name (``actions["next_photo"]``)."""

    def __init__(self, window: QWidget, overrides: Mapping[str, str] | None = None) -> None:
        self.by_name: dict[str, QAction] = {}
        for spec in SHORTCUT_ACTIONS:
            action = QAction(spec.text, window)
            action.setObjectName(spec.name)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            window.addAction(action)
            self.by_name[spec.name.removeprefix(PREFIX)] = action
        self.keys: dict[str, str] = {}
        self.apply(overrides)

    def __getitem__(self, name: str) -> QAction:
        return self.by_name[name]

    def apply(self, overrides: Mapping[str, str] | None) -> None:
        """Give every action its key: the default unless ``overrides`` (settings) says other."""
        self.keys = bindings(overrides)
        for name, key in self.keys.items():
            action = self.by_name[name.removeprefix(PREFIX)]
            action.setShortcut(QKeySequence(key))
            text = action.text().split("\t")[0]
            action.setToolTip(f"{text} ({key})" if key else text)
