"""The annotation window's actions, one QAction per row of the shortcut table.

Their keys come from :func:`dclip_app.annotate.shortcuts.bindings` (defaults plus the user's
changes from Settings) and can be swapped while the window is open (:meth:`AnnotateActions.apply`).
:func:`build_toolbar` puts the frequent ones in the window's toolbar, by short words.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QSizePolicy, QToolBar, QWidget

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


TOOLBAR_WALK = (
    ("previous_photo", "◀ Previous"),
    ("next_photo", "Next ▶"),
    ("next_unannotated", "Next unannotated"),
)
TOOLBAR_EDIT = (
    ("new_box", "New box"),
    ("undo", "Undo"),
    ("redo", "Redo"),
    ("fit", "Fit"),
    ("actual_size", "100 %"),
    ("help", "Shortcuts"),
)


def build_toolbar(actions: AnnotateActions, walk_filter: QWidget, progress: QWidget) -> QToolBar:
    """Photo walking, the "not yet annotated" filter, editing, and the progress at the right."""
    bar = QToolBar("Annotate")
    bar.setObjectName("AnnotateToolbar")
    bar.setMovable(False)
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    actions["new_box"].setCheckable(True)
    for group in (TOOLBAR_WALK, TOOLBAR_EDIT):
        for name, text in group:
            actions[name].setIconText(text)
            bar.addAction(actions[name])
        if group is TOOLBAR_WALK:
            bar.addWidget(walk_filter)
            bar.addSeparator()
    spacer = QWidget()
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    bar.addWidget(spacer)
    bar.addWidget(progress)
    return bar
