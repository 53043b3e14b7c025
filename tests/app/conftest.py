"""Fixtures of the app tests: a small generated photo library and a started main window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dclip_app.app import create_main_window
from dclip_app.main_window import MainWindow
from dclip_core.config import Settings, save_settings
from tests.helpers.images import write_photo_library


@pytest.fixture(autouse=True)
def _no_leaked_windows(qapp: QApplication) -> Iterator[None]:
    """Fail a test that leaves a top-level widget open (napari's strict-qtbot habit).

    Runs after pytest-qt closed the widgets given to ``qtbot.addWidget`` and after the window
    fixtures closed theirs, so what is still visible here was opened and forgotten: a dialog, a
    popup, a second window. It is closed afterwards, so one leak does not fail the next test too.
    """
    before = {id(w) for w in QApplication.topLevelWidgets()}
    yield
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if id(w) not in before and w.isVisible()]
    for widget in leaked:
        widget.close()
        widget.deleteLater()
    names = [f"{type(w).__name__} {w.objectName() or w.windowTitle()!r}" for w in leaked]
    assert not leaked, f"the test left top-level widgets open: {', '.join(names)}"


@pytest.fixture
def photo_library(tmp_path: Path) -> Path:
    return write_photo_library(tmp_path / "photos")


@pytest.fixture
def app_settings(tiny_bundle: Path) -> Settings:
    """Settings that point at the test-tiny bundle, saved where the app reads them."""
    settings = Settings(model=str(tiny_bundle), execution_provider="cpu", threads=1)
    save_settings(settings)
    return settings


def close_window(window: MainWindow) -> None:
    window.confirm_close = lambda work: True  # type: ignore[method-assign]
    window.close()


@pytest.fixture
def window(qtbot: QtBot, app_settings: Settings) -> Iterator[MainWindow]:
    """The main window, started, with its model loaded."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    win = create_main_window(app)
    # Not qtbot.addWidget: its teardown closes the window before ours and would meet the real
    # "quit while indexing?" question; close_window answers it.
    win.show()
    with qtbot.waitSignal(win.service.model_loaded, timeout=30_000):
        win.start()
    yield win
    close_window(win)


@pytest.fixture
def fresh_window(qtbot: QtBot) -> Iterator[MainWindow]:
    """The window as a new user sees it: default settings, no model, the first-run panel."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    win = create_main_window(app)
    win.show()
    win.start()
    yield win
    close_window(win)


def wait_for_indexing(qtbot: QtBot, window: MainWindow, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not window.service.indexing, timeout=timeout)
    # Folder summaries are refreshed by a read job after the run.
    qtbot.waitUntil(window.service.reader.is_idle, timeout=timeout)
