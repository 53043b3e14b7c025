"""The annotation window's keyboard shortcuts: one table of actions and default keys (Qt-free).

Defaults follow the annotation tools people already know (labelme, X-AnyLabeling, Label Studio;
see ``docs/annotations.md``): A / D walk through the photos, R draws a box, Y / N accept or reject
a suggestion. The user's changes are kept in :attr:`dclip_core.config.Settings.shortcuts`, only
the actions whose key differs from the default, so a better default reaches everyone who never
changed it. Keys are Qt's portable key-sequence text (``"Ctrl+Shift+D"``); ``""`` means none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "annotate."


@dataclass(frozen=True)
class ShortcutAction:
    """One action that can have a key: its stored name, its words in menus, its default key."""

    name: str
    text: str
    default: str
    group: str


def _action(name: str, text: str, default: str, group: str) -> ShortcutAction:
    return ShortcutAction(PREFIX + name, text, default, group)


SHORTCUT_ACTIONS: tuple[ShortcutAction, ...] = (
    _action("previous_photo", "Previous photo", "A", "Photos"),
    _action("next_photo", "Next photo", "D", "Photos"),
    _action("next_unannotated", "Next photo not yet annotated", "Ctrl+Shift+D", "Photos"),
    _action("new_box", "Draw a new box", "R", "Boxes"),
    _action("delete", "Delete the selected box or caption", "Del", "Boxes"),
    _action("edit_label", "Edit the selected box's label", "Ctrl+E", "Boxes"),
    _action("accept", "Accept the suggestion", "Y", "Suggestions"),
    _action("reject", "Reject the suggestion", "N", "Suggestions"),
    _action("accept_all", "Accept every suggestion of the photo", "Shift+Y", "Suggestions"),
    _action("reject_all", "Reject every suggestion of the photo", "Shift+N", "Suggestions"),
    _action("add_caption", "Write a new caption", "C", "Captions"),
    _action("link_span", "Link the selected words to the selected box", "Ctrl+L", "Captions"),
    _action("undo", "Undo", "Ctrl+Z", "Editing"),
    _action("redo", "Redo", "Ctrl+Shift+Z", "Editing"),
    _action("fit", "Fit the photo in the window", "F", "View"),
    _action("actual_size", "Show the photo at 100 % (one pixel per screen pixel)", "1", "View"),
    _action("help", "Keyboard shortcuts", "F1", "View"),
)
ACTIONS_BY_NAME: dict[str, ShortcutAction] = {a.name: a for a in SHORTCUT_ACTIONS}


def _same_key(key: str) -> str:
    """A comparison form of a key sequence: ``"ctrl+shift+d"`` for ``"Shift+Ctrl+D"``."""
    parts = [p.strip().lower() for p in key.replace(" ", "").split("+") if p.strip()]
    if key.strip().endswith("++"):  # "Ctrl++": the plus key itself
        parts.append("+")
    modifiers = sorted(p for p in parts[:-1])
    return "+".join([*modifiers, *parts[-1:]])


def bindings(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every action's key: the default unless ``overrides`` (the settings) names another.

    Names the table does not know (an action of a newer or older DCLIP) are ignored.
    """
    keys = {a.name: a.default for a in SHORTCUT_ACTIONS}
    for name, key in (overrides or {}).items():
        if name in keys:
            keys[name] = key.strip()
    return keys


def overrides_of(keys: Mapping[str, str]) -> dict[str, str]:
    """What to store for ``keys``: the actions whose key is not the default."""
    return {
        name: key
        for name, key in keys.items()
        if name in ACTIONS_BY_NAME and _same_key(key) != _same_key(ACTIONS_BY_NAME[name].default)
    }


def conflicts(keys: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Pairs of actions bound to the same key: ``(key, first action text, second action text)``."""
    seen: dict[str, str] = {}
    out = []
    for name, key in keys.items():
        if not key or name not in ACTIONS_BY_NAME:
            continue
        same = _same_key(key)
        if same in seen:
            out.append((key, ACTIONS_BY_NAME[seen[same]].text, ACTIONS_BY_NAME[name].text))
        else:
            seen[same] = name
    return out


def help_rows(keys: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """``(group, action text, key or "—")`` for every action, in table order: the help panel."""
    return [(a.group, a.text, keys.get(a.name) or "—") for a in SHORTCUT_ACTIONS]
