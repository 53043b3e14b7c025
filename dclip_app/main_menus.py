"""The main window's menus and their actions (what each is called, its icon and shortcut).

The window connects the actions to what they do (:meth:`dclip_app.main_window.MainWindow.
_build_menu`); keeping their words and keys here keeps the window's module about behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QWidget

from dclip_app.resources import icon


@dataclass(frozen=True)
class MainActions:
    """The window's menu actions."""

    add_folder: QAction
    rescan: QAction
    regions: QAction
    settings: QAction
    quit: QAction
    find: QAction
    copy: QAction
    similar: QAction
    explain: QAction
    annotate: QAction
    finetune: QAction
    rollback: QAction


def build_menus(window: QMainWindow) -> MainActions:
    """Create the Library, Search and Model menus of ``window`` and return their actions."""
    regions = QAction("Find small things (index crops too)", window)
    regions.setCheckable(True)
    regions.setToolTip(
        "Also embed four overlapping crops of every photo: small things and the edges of "
        "wide photos are found, and results outline where they matched. Indexing takes "
        "about four times longer; switching re-indexes every photo."
    )
    regions.setStatusTip(regions.toolTip())
    copy = _action(window, "Copy path", "copy", QKeySequence.StandardKey.Copy)
    copy.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    explain = _action(window, "Why this match?", "help", QKeySequence("Ctrl+E"))
    explain.setStatusTip("How the query's words and the photo's regions attend to each other")
    annotate = _action(window, "Annotate photos…", "annotate", QKeySequence("Ctrl+Shift+A"))
    annotate.setStatusTip(
        "Captions and labelled boxes for the search results, else the selected folder's photos"
    )
    finetune = _action(window, "Fine-tune on my photos…", "resume", QKeySequence("Ctrl+Shift+F"))
    finetune.setStatusTip(
        "Teach the model your captioned photos, see whether it helped, and switch to it"
    )
    rollback = _action(window, "Back to the previous model", "rescan", QKeySequence())
    rollback.setStatusTip("Search with the model used before the last switch (no re-indexing)")
    actions = MainActions(
        add_folder=_action(window, "Add folder…", "folder-add", QKeySequence.StandardKey.Open),
        rescan=_action(window, "Rescan folders", "rescan", QKeySequence("F5")),
        regions=regions,
        settings=_action(window, "Settings…", "settings", QKeySequence.StandardKey.Preferences),
        quit=_action(window, "Quit", None, QKeySequence.StandardKey.Quit),
        find=_action(window, "Search", "search", QKeySequence.StandardKey.Find),
        copy=copy,
        similar=_action(window, "Find similar", "similar", QKeySequence("Ctrl+L")),
        explain=explain,
        annotate=annotate,
        finetune=finetune,
        rollback=rollback,
    )
    library_menu = window.menuBar().addMenu("&Library")
    for action in (
        actions.add_folder,
        actions.rescan,
        actions.regions,
        actions.annotate,
        actions.settings,
    ):
        library_menu.addAction(action)
    library_menu.addSeparator()
    library_menu.addAction(actions.quit)
    search_menu = window.menuBar().addMenu("&Search")
    for action in (actions.find, actions.copy, actions.similar, actions.explain):
        search_menu.addAction(action)
    model_menu = window.menuBar().addMenu("&Model")
    for action in (actions.finetune, actions.rollback):
        model_menu.addAction(action)
    return actions


def _action(
    parent: QWidget,
    text: str,
    icon_name: str | None,
    shortcut: QKeySequence | QKeySequence.StandardKey,
) -> QAction:
    action = QAction(text, parent)
    if icon_name:
        action.setIcon(icon(icon_name))
    action.setShortcut(shortcut)
    return action
