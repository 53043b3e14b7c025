"""Icons and the stylesheet, shipped inside the package (``dclip_app/resources/``).

They live in the package, not beside it, so that a wheel install (``pip install dclip``) carries
them as package data; pyproject.toml lists them under ``[tool.setuptools.package-data]``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

# Qt loads icons from file paths, so the package must be installed as files (wheels are), not
# imported from a zip.
RESOURCES_DIR = Path(__file__).resolve().parent
ICONS_DIR = RESOURCES_DIR / "icons"
STYLESHEET = RESOURCES_DIR / "style.qss"


@cache
def icon(name: str) -> QIcon:
    """The SVG icon ``icons/<name>.svg`` (an empty icon when it is missing)."""
    path = ICONS_DIR / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def stylesheet() -> str:
    """The application stylesheet, or "" when the file is missing (the app still works unstyled)."""
    return STYLESHEET.read_text(encoding="utf-8") if STYLESHEET.is_file() else ""
