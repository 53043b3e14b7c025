"""Building the application window (for ``dclip-app``, the tests and the screenshot script)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from dclip_app.main_window import MainWindow
from dclip_app.resources import icon, stylesheet
from dclip_core.config import Settings, load_settings
from dclip_core.errors import ConfigError


def create_main_window(app: QApplication) -> MainWindow:
    """Style ``app`` and build the main window from the user's settings (not shown yet).

    A settings file that cannot be read is left untouched; the window starts with the defaults
    and says why in the status bar.
    """
    app.setApplicationName("DCLIP")
    app.setOrganizationName("DCLIP")
    app.setWindowIcon(icon("dclip"))
    app.setStyleSheet(stylesheet())
    problem = None
    try:
        settings = load_settings()
    except ConfigError as exc:
        settings, problem = Settings(), f"Using default settings: {exc}"
    return MainWindow(settings, problem)
