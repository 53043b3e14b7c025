"""Resources are found through importlib.resources (the installed package dclip_resources)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dclip_core.config import resources
from dclip_core.config.resources import APP_ID, resource_path, resources_dir
from dclip_core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def test_resources_are_the_installed_package_not_a_path_beside_the_code() -> None:
    root = resources_dir()
    assert (root / "__init__.py").is_file()
    # In this (editable) checkout the package is the top-level resources/ folder.
    assert root.resolve() == (REPO / "resources").resolve()
    assert resource_path("style.qss").is_file()
    assert resource_path("icons/dclip.svg").is_file()


def test_desktop_files_are_named_after_the_app_id() -> None:
    assert resource_path(f"desktop/{APP_ID}.desktop").is_file()
    assert resource_path(f"desktop/{APP_ID}.metainfo.xml").is_file()
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert resource_path(f"icons/png/dclip-{size}.png").is_file()


def test_a_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "RESOURCES_PACKAGE", "dclip_resources_not_installed")
    with pytest.raises(ConfigError, match=r"pip install -e \."):
        resources_dir()
