"""First run (no model yet): the panel explains, downloads (or says it is offline), imports; and
window geometry persists under DCLIP_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dclip_app.app import create_main_window
from dclip_app.main_window import FIRST_RUN_PAGE, MainWindow, window_state_file
from tests.app.conftest import close_window

pytestmark = pytest.mark.gui


def test_no_model_shows_the_first_run_panel(fresh_window: MainWindow) -> None:
    panel = fresh_window.first_run
    assert fresh_window.pages.currentIndex() == FIRST_RUN_PAGE
    assert "clip-vit-b-32" not in panel.text.text()  # speaks in words, not registry keys
    assert "CLIP ViT-B/32" in panel.text.text()
    assert panel.download_button.isVisible()
    assert panel.import_button.isVisible()
    assert panel.demo_button.isVisible()
    assert panel.error_label.isHidden()
    assert fresh_window.model_status.text() == "No model"


def test_offline_download_says_so_and_offers_import_or_demo(
    qtbot: QtBot, fresh_window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCLIP_OFFLINE", "1")
    panel = fresh_window.first_run
    qtbot.mouseClick(panel.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.error_label.isHidden(), timeout=10_000)
    message = panel.error_label.text()
    assert "offline" in message
    assert "ViT-B-32-openai.pt" in message  # names the missing file
    assert "import" in message
    assert panel.retry_button.isVisible()
    assert panel.import_button.isEnabled()
    assert panel.demo_button.isEnabled()
    assert not panel.busy


def test_importing_the_wrong_file_is_refused_with_the_reason(
    qtbot: QtBot, fresh_window: MainWindow, tmp_path: Path
) -> None:
    wrong = tmp_path / "ViT-B-32.pt"
    wrong.write_bytes(b"not the weights you are looking for")
    panel = fresh_window.first_run
    panel.start_import(wrong)
    qtbot.waitUntil(lambda: not panel.error_label.isHidden(), timeout=10_000)
    assert "sha256" in panel.error_label.text() or "hash" in panel.error_label.text()
    assert fresh_window.pages.currentIndex() == FIRST_RUN_PAGE


def test_window_geometry_is_restored(qtbot: QtBot, fresh_window: MainWindow) -> None:
    fresh_window.move(37, 29)
    fresh_window.resize(fresh_window.minimumSizeHint().width() + 31, 577)
    qtbot.wait(50)
    size = fresh_window.size()
    close_window(fresh_window)
    assert window_state_file().is_file()  # under DCLIP_HOME, never the user's own config
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    again = create_main_window(app)
    # Qt keeps a restored window on screen (the test screen is 800 px wide), so compare what fits.
    assert again.height() == size.height() == 577
    close_window(again)
