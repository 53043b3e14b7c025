"""packaging/install-linux.sh puts a build, its menu entry, icons and metainfo under a prefix, and
--uninstall takes them away; the desktop entry and metainfo validate where the tools are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "packaging" / "install-linux.sh"
APP_ID = "org.dclip.DCLIP"
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux desktop only")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    """A stand-in for dist/dclip-slim: the two executables and the collected resources."""
    folder = tmp_path / "dclip-slim"
    shutil.copytree(REPO / "resources", folder / "_internal" / "dclip_resources")
    for name in ("dclip", "dclip-app"):
        (folder / name).write_text("#!/bin/sh\necho ok\n")
        (folder / name).chmod(0o755)
    return folder


def install(*args: str | Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFIX": str(prefix)}
    return subprocess.run(
        ["bash", SCRIPT, *map(str, args)], capture_output=True, text=True, env=env, timeout=60
    )


def test_install_then_uninstall(build: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "local"
    done = install(build, prefix=prefix)
    assert done.returncode == 0, done.stderr
    assert (prefix / "bin" / "dclip-app").resolve() == prefix / "lib" / "dclip" / "dclip-app"
    desktop = prefix / "share" / "applications" / f"{APP_ID}.desktop"
    assert f"Exec={prefix}/bin/dclip-app %F" in desktop.read_text()
    assert (prefix / "share" / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    icons = prefix / "share" / "icons" / "hicolor"
    assert (icons / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (icons / "256x256" / "apps" / f"{APP_ID}.png").is_file()

    removed = install("--uninstall", prefix=prefix)
    assert removed.returncode == 0, removed.stderr
    left = [p for p in prefix.rglob("*") if p.is_file() or p.is_symlink()]
    assert [p for p in left if "dclip" in p.name.lower() or APP_ID in p.name] == []


def test_a_folder_that_is_not_a_build_is_refused(tmp_path: Path) -> None:
    done = install(tmp_path, prefix=tmp_path / "local")
    assert done.returncode == 1
    assert "not a DCLIP build" in done.stderr


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils")
def test_installed_desktop_entry_validates(build: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "local"
    assert install(build, prefix=prefix).returncode == 0
    desktop = prefix / "share" / "applications" / f"{APP_ID}.desktop"
    checked = subprocess.run(["desktop-file-validate", desktop], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == ""


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream")
def test_metainfo_validates() -> None:
    metainfo = REPO / "resources" / "desktop" / f"{APP_ID}.metainfo.xml"
    checked = subprocess.run(
        ["appstreamcli", "validate", "--no-net", metainfo], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
