"""Hand a photo to the desktop: open it in the system viewer, show it in the file manager, copy its
path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication


def open_with_system_viewer(path: Path) -> bool:
    """Open ``path`` with the user's default application; False when the desktop refused."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))


def reveal_in_file_manager(path: Path) -> bool:
    """Show ``path`` selected in the file manager (its folder, where selecting is not possible)."""
    if sys.platform == "darwin":
        return subprocess.run(["open", "-R", str(path)], check=False).returncode == 0
    if sys.platform == "win32":
        # explorer returns 1 even on success, so only a failure to start counts.
        subprocess.Popen(["explorer", f"/select,{path}"])
        return True
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))))


def copy_paths(paths: list[Path]) -> None:
    """Put the paths on the clipboard, one per line."""
    QGuiApplication.clipboard().setText("\n".join(str(p) for p in paths))
