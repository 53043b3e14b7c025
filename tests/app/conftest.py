"""Fixtures of the app tests: a small generated photo library and a started main window."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from dclip_app.app import create_main_window
from dclip_app.main_window import MainWindow
from dclip_core.config import Settings, save_settings

# (folder, name, colour, shape, year the photo was "taken")
PHOTOS = [
    ("beach", "sunny", (240, 200, 80), "circle", 2020),
    ("beach", "sea", (40, 110, 220), "rect", 2020),
    ("beach", "sand", (230, 210, 160), "rect", 2021),
    ("beach", "sunset", (250, 120, 40), "circle", 2021),
    ("forest", "pines", (20, 110, 40), "triangle", 2023),
    ("forest", "moss", (80, 160, 60), "circle", 2023),
    ("forest", "bark", (110, 70, 40), "rect", 2024),
    ("forest", "fern", (60, 190, 90), "triangle", 2024),
]


def draw_photo(path: Path, colour: tuple[int, int, int], shape: str, size: int = 96) -> None:
    image = Image.new("RGB", (size, size * 3 // 4), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    box = (12, 8, size - 12, size * 3 // 4 - 8)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(box[0], box[3]), (box[2], box[3]), (size // 2, box[1])], fill=colour)
    else:
        draw.rectangle(box, fill=colour)
    image.save(path, quality=90)


def write_photo_library(root: Path) -> Path:
    """Eight small JPEGs in two folders, with file dates spread over 2020–2024."""
    for folder, name, colour, shape, year in PHOTOS:
        target = root / folder / f"{name}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        draw_photo(target, colour, shape)
        stamp = datetime(year, 6, 1, 12, 0).timestamp()
        os.utime(target, (stamp, stamp))
    return root


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
