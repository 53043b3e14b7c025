"""The app's icons and stylesheet ship inside the wheel, and a wheel install finds them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dclip_app.resources import ICONS_DIR, STYLESHEET, icon, stylesheet

REPO = Path(__file__).resolve().parents[2]
# What a wheel is built from: the sdist's contents (pyproject.toml names README and LICENSE).
SOURCE_ENTRIES = ("pyproject.toml", "README.md", "LICENSE", "dclip_core", "dclip_app")


def icon_names_used_by_the_app() -> set[str]:
    """Every ``icon("name")`` the app's source asks for."""
    names: set[str] = set()
    for source in (REPO / "dclip_app").rglob("*.py"):
        names.update(re.findall(r"""\bicon\(\s*["']([\w-]+)["']""", source.read_text("utf-8")))
    names.update(re.findall(r'"([\w-]+)"', _action_icon_arguments()))
    return names


def _action_icon_arguments() -> str:
    """The main window passes icon names to ``_action(self, text, "name", …)``: those too."""
    text = (REPO / "dclip_app" / "main_window.py").read_text("utf-8")
    return "\n".join(re.findall(r"_action\(\s*self,\s*\"[^\"]*\",\s*(\"[\w-]+\")", text))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source tree (the shared working tree gets no build/)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for entry in SOURCE_ENTRIES:
        path = REPO / entry
        if path.is_dir():
            shutil.copytree(path, source / entry, ignore=ignore)
        else:
            shutil.copy2(path, source / entry)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(root / "dist")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel_file,) = (root / "dist").glob("dclip-*.whl")
    return wheel_file


def test_the_source_tree_has_every_icon_the_app_uses() -> None:
    used = icon_names_used_by_the_app()
    assert {"dclip", "search", "download", "cancel"} <= used  # the scan finds real names
    missing = sorted(name for name in used if not (ICONS_DIR / f"{name}.svg").is_file())
    assert missing == []
    assert not icon("dclip").isNull()
    assert "FirstRunPanel" in stylesheet()


@pytest.mark.slow
def test_wheel_contains_the_icons_and_the_stylesheet(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "dclip_app/resources/style.qss" in names
    for svg in sorted(ICONS_DIR.glob("*.svg")):
        assert f"dclip_app/resources/icons/{svg.name}" in names
    shipped = zipfile.ZipFile(wheel).read("dclip_app/resources/style.qss").decode("utf-8")
    assert shipped == STYLESHEET.read_text(encoding="utf-8")


@pytest.mark.slow
def test_app_installed_from_the_wheel_loads_its_icons_and_stylesheet(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication(sys.argv[:1])\n"
        "import dclip_app.resources as r\n"
        "print(r.__file__)\n"
        "print(len(r.stylesheet()))\n"
        "print(r.icon('search').isNull(), r.icon('dclip').isNull())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "QT_QPA_PLATFORM": "offscreen"}
    # cwd outside the repo, so the only dclip_app on the path first is the installed one.
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
        timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    where, qss_chars, nulls = run.stdout.splitlines()[-3:]
    assert Path(where).is_relative_to(site)
    assert int(qss_chars) > 500
    assert nulls == "False False"
