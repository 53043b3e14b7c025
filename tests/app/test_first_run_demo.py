"""First run, "Try the demo": the real demo build (tiny sizes) with progress lines, cancel and
errors, and the demo opening in an app of its own on the demo's home."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from dclip_app.demo_setup import DemoApp, DemoSizes
from dclip_app.first_run import DEMO_START_CHECK_MS, FirstRunPanel
from dclip_app.main_window import FIRST_RUN_PAGE, MainWindow
from dclip_core.config import get_paths, load_settings

pytestmark = pytest.mark.gui

# A world and a pretraining small enough for a test; the pipeline is the real one.
TINY = DemoSizes(pretrain_steps=3, pretrain_scenes=8, finetune_scenes=1, test_scenes=12, seed=1)


def demo_home() -> Path:
    return get_paths().data_dir / "demo"


def open_files(pid: int) -> set[str]:
    """The files a process has open (Linux /proc)."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            continue  # closed between listing and reading
    return found


def click(qtbot: QtBot, panel: FirstRunPanel, button: str) -> None:
    qtbot.mouseClick(getattr(panel, button), Qt.MouseButton.LeftButton)


@pytest.mark.slow
def test_demo_button_builds_the_demo_and_opens_it_in_its_own_window(
    qtbot: QtBot, fresh_window: MainWindow
) -> None:
    panel = fresh_window.first_run
    panel.demo_sizes = TINY
    click(qtbot, panel, "demo_button")
    assert panel.busy
    assert not panel.demo_button.isEnabled()
    assert not panel.download_button.isEnabled()
    assert panel.cancel_button.isVisible()
    assert panel.demo_log.isVisible()
    with qtbot.waitSignal(panel.demo_opened, timeout=180_000) as opened:
        pass
    demo = opened.args[0]
    assert isinstance(demo, DemoApp)
    try:
        log = panel.demo_log.toPlainText()
        # Progress lines of every phase reached the panel, in order.
        phases = ["training the demo model", "exporting the image tower", "demo photos indexed"]
        positions = [log.index(phase) for phase in phases]
        assert positions == sorted(positions)
        assert not panel.busy
        assert "window of its own" in panel.progress_label.text()
        assert panel.demo_button.text() == "Open the demo again"

        # The bundle is complete and the demo's own settings point at it; 12 photos indexed.
        home = demo_home()
        assert demo.demo.home == home
        assert json.loads((demo.demo.bundle / "bundle.json").read_text())["name"] == "shapes-demo"
        settings = json.loads((home / "config" / "settings.json").read_text())
        assert settings["model"] == "shapes-demo"
        assert demo.demo.indexed == 12
        # The app started on the demo's home, with the banner saying what the demo is.
        assert demo.command[demo.command.index("--home") + 1] == str(home)
        assert "synthetic shapes" in demo.command[demo.command.index("--banner") + 1]
        # It is running and has opened the demo's library, not the user's.
        qtbot.waitUntil(
            lambda: (
                str(home / "data" / "library" / "library.sqlite3") in open_files(demo.process.pid)
            ),
            timeout=60_000,
        )
        qtbot.wait(DEMO_START_CHECK_MS + 200)
        assert demo.process.poll() is None, demo.log.read_text()
        assert panel.error_label.isHidden()
        # The user's own settings and window stay as they were.
        assert load_settings().model == "clip-vit-b-32"
        assert fresh_window.pages.currentIndex() == FIRST_RUN_PAGE
    finally:
        demo.process.terminate()
        demo.process.wait(timeout=30)

    # Opening it again reuses the model and the index, and skips torch's import: seconds.
    with qtbot.waitSignal(panel.demo_opened, timeout=60_000) as again:
        started = time.monotonic()
        click(qtbot, panel, "demo_button")
    second = again.args[0]
    try:
        assert time.monotonic() - started < 30
        log = panel.demo_log.toPlainText()
        assert "using the demo model trained earlier" in log
        assert "training" not in log
        assert "12 demo photos indexed (0 new)" in log
        assert second.demo.bundle == demo.demo.bundle
    finally:
        second.process.terminate()
        second.process.wait(timeout=30)


@pytest.mark.slow
def test_cancel_mid_build_keeps_nothing_half_written_and_the_panel_usable(
    qtbot: QtBot, fresh_window: MainWindow
) -> None:
    panel = fresh_window.first_run
    # Many steps: the build is surely still training when the cancel arrives.
    panel.demo_sizes = DemoSizes(2000, pretrain_scenes=16, finetune_scenes=1, test_scenes=8)
    opened: list[object] = []
    panel.demo_opened.connect(opened.append)
    click(qtbot, panel, "demo_button")
    # Phase 1 of the pretraining (the image tower alone) takes 3/8 of the steps.
    qtbot.waitUntil(
        lambda: "pretrain-image step 10/750" in panel.demo_log.toPlainText(), timeout=120_000
    )
    click(qtbot, panel, "cancel_button")
    assert panel.progress_label.text() == "Stopping…"
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)

    assert "Demo stopped" in panel.progress_label.text()
    assert panel.error_label.isHidden()
    for button in (panel.demo_button, panel.download_button, panel.import_button):
        assert button.isEnabled()
    assert not panel.cancel_button.isVisible()
    assert opened == []
    # No bundle, not even a partial one, and no half-trained model passed off as finished.
    bundles = demo_home() / "data" / "bundles"
    assert not bundles.exists() or list(bundles.iterdir()) == []
    assert list(demo_home().rglob("base.safetensors")) == []
    assert not (demo_home() / "config" / "settings.json").exists()


def test_a_failed_build_says_why_and_offers_retry(qtbot: QtBot, fresh_window: MainWindow) -> None:
    panel = fresh_window.first_run
    panel.demo_sizes = TINY
    # A file where the demo's folder belongs: the build cannot even start.
    demo_home().parent.mkdir(parents=True, exist_ok=True)
    demo_home().write_text("in the way")
    click(qtbot, panel, "demo_button")
    qtbot.waitUntil(lambda: not panel.error_label.isHidden(), timeout=60_000)
    assert panel.error_label.text().startswith("Building the demo did not work — retry")
    details = panel.details.toPlainText()  # the why, one click away
    assert details.startswith("DemoError: building the demo failed: cannot create the demo folder")
    assert str(demo_home()) in details
    assert panel.retry_button.isVisible()
    assert panel.demo_button.isEnabled()
    assert not panel.busy
