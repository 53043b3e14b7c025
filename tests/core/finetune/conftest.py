"""Small real data for the fine-tune tests: generated shapes scenes (captioned, with boxes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dclip_core.shapes.scenes import write_shapes_dataset


@pytest.fixture(scope="session")
def shapes_folder_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shapes-master")
    write_shapes_dataset(folder, 24, seed=3, image_size=64)
    return folder


@pytest.fixture
def shapes_folder(shapes_folder_master: Path, tmp_path: Path) -> Path:
    """A fresh copy of 24 captioned 64-px scenes with ``scenes.json`` (change it freely)."""
    return Path(shutil.copytree(shapes_folder_master, tmp_path / "shapes"))
