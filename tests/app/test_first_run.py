"""First run (no model yet): the panel explains, downloads (or says in one sentence that it cannot,
with the technical details one click away), imports; and window geometry persists under
DCLIP_HOME."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dclip_app.app import create_main_window
from dclip_app.first_run import FirstRunPanel
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


def unplug_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every host name fails to resolve, as on a machine with no connection: the download meets
    the same ``[Errno -2] Name or service not known`` a user offline meets, and never the real
    network (whatever source the download tries: CDN, Hub, a mirror)."""

    def no_dns(host: object, *args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.delenv("DCLIP_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)


def download_and_wait_for_the_error(qtbot: QtBot, panel: FirstRunPanel) -> None:
    qtbot.mouseClick(panel.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.error_label.isHidden(), timeout=30_000)


def test_offline_first_run_says_one_short_sentence_with_the_details_one_click_away(
    qtbot: QtBot,
    fresh_window: MainWindow,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    unplug_the_network(monkeypatch)
    panel = fresh_window.first_run
    download_and_wait_for_the_error(qtbot, panel)

    message = panel.error_label.text()
    assert message.startswith("Can't reach the download server — check the connection")
    assert "import the weights file or try the demo" in message
    # Short: one sentence, no file names, paths, URLs or errno.
    assert "\n" not in message
    assert len(message) <= 140
    assert not any(word in message for word in ("http", "/", "Errno", ".pt", "Error"))
    # What it offers is right there and usable.
    assert panel.retry_button.isVisible()
    assert panel.import_button.isEnabled()
    assert panel.demo_button.isEnabled()
    assert not panel.busy

    # The technical text is hidden, one click away, read-only and selectable (for a bug report).
    assert panel.details_button.isVisible()
    assert panel.details.isHidden()
    qtbot.mouseClick(panel.details_button, Qt.MouseButton.LeftButton)
    assert panel.details.isVisible()
    details = panel.details.toPlainText()
    assert "Name or service not known" in details
    assert "ViT-B-32-openai.pt" in details  # names the missing file
    assert "dclip models import" in details
    assert panel.details.isReadOnly()
    flags = panel.details.textInteractionFlags()
    assert flags & Qt.TextInteractionFlag.TextSelectableByMouse
    # … and in the log, tied to the sentence the user saw.
    logged = [r.getMessage() for r in caplog.records if r.name == "dclip_app.first_run"]
    assert any(message in line and "Name or service not known" in line for line in logged)

    # A second click hides it again; a new attempt clears the error and its details.
    qtbot.mouseClick(panel.details_button, Qt.MouseButton.LeftButton)
    assert panel.details.isHidden()
    qtbot.mouseClick(panel.details_button, Qt.MouseButton.LeftButton)
    panel.start_download()
    assert panel.error_label.isHidden()
    assert panel.details.isHidden()
    assert panel.details_button.isHidden()
    qtbot.waitUntil(lambda: not panel.busy, timeout=30_000)


def test_offline_mode_says_downloads_are_turned_off_and_offers_import_or_demo(
    qtbot: QtBot, fresh_window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCLIP_OFFLINE", "1")
    panel = fresh_window.first_run
    download_and_wait_for_the_error(qtbot, panel)
    message = panel.error_label.text()
    assert message.startswith("Downloads are turned off on this computer (DCLIP_OFFLINE)")
    assert "import the weights file or try the demo" in message
    assert "ViT-B-32-openai.pt" in panel.details.toPlainText()
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
    assert panel.error_label.text().startswith(
        "That file can't be used: it is not the weights file this model expects"
    )
    assert "sha256" in panel.details.toPlainText()  # the reason, one click away
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
