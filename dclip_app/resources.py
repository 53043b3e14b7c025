"""Icons and the stylesheet of the app, read from DCLIP's installed resources.

The files live in the top-level ``resources/`` folder and ship in the wheel as the package
``dclip_resources``; :mod:`dclip_core.config.resources` finds them through ``importlib.resources``
in a checkout, a wheel install and a PyInstaller build alike (ADR 0018).
"""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon

from dclip_core.config.resources import resource_path

# Qt loads icons from file paths: the resources are installed as files, never served from a zip.
ICONS_DIR = resource_path("icons")
STYLESHEET = resource_path("style.qss")


@cache
def icon(name: str) -> QIcon:
    """The SVG icon ``icons/<name>.svg`` (an empty icon when it is missing)."""
    path = ICONS_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def stylesheet() -> str:
    """The application stylesheet, or "" when the file is missing (the app still works unstyled)."""
    return STYLESHEET.read_text(encoding="utf-8") if STYLESHEET.is_file() else ""
