"""Icons and the stylesheet, from the ``resources`` folder of the source tree."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"


@cache
def icon(name: str) -> QIcon:
    """The SVG icon ``resources/icons/<name>.svg`` (an empty icon when it is missing)."""
    path = RESOURCES_DIR / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def stylesheet() -> str:
    """The application stylesheet, or "" when the file is missing (the app still works unstyled)."""
    path = RESOURCES_DIR / "style.qss"
    return path.read_text(encoding="utf-8") if path.is_file() else ""
