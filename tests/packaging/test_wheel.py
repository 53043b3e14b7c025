"""The wheel a person installs: built from the source tree, installed (not editable) into a fresh
virtual environment, and used there the way a person would.

The environment gets the wheel with ``--no-deps`` plus the light runtime of the slim build
(packaging/requirements-slim.txt: ONNX Runtime, Qt, hnswlib, Pillow …) from the local package
index, not torch: installing torch takes minutes, and its absence proves that search and the app
start without it (ADR 0018). What this costs is in docs/benchmarks.md ("Packaging").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.helpers.images import photo

REPO = Path(__file__).resolve().parents[2]
# What a wheel is built from: the sdist's contents.
SOURCE_ENTRIES = (
    "pyproject.toml", "setup.py", "README.md", "LICENSE", "dclip_core", "dclip_app", "resources",
)  # fmt: skip
pytestmark = pytest.mark.slow


def run(*command: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("timeout", 600)
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(part) for part in command], capture_output=True, text=True, **kwargs
    )


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
    built = run(
        sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--no-build-isolation",
        "--no-index", "-q", "-w", root / "dist",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel_file,) = (root / "dist").glob("dclip-*.whl")
    return wheel_file


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment (no system site-packages) with the wheel and the slim runtime."""
    target = tmp_path_factory.mktemp("venv") / "venv"
    started = time.perf_counter()
    made = run(sys.executable, "-m", "venv", target)
    assert made.returncode == 0, made.stderr
    python = target / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "-q", "--no-deps", wheel)
    assert installed.returncode == 0, installed.stderr[-3000:]
    deps = run(
        python, "-m", "pip", "install", "-q", "-r", REPO / "packaging" / "requirements-slim.txt"
    )
    assert deps.returncode == 0, deps.stderr[-3000:]
    print(f"fresh venv with the wheel and the slim runtime: {time.perf_counter() - started:.0f} s")
    return target


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "DCLIP_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}


def test_wheel_carries_the_resources_and_both_entry_points(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    resources = REPO / "resources"
    for path in resources.rglob("*"):
        if path.is_file() and path.suffix in {".svg", ".png", ".qss", ".desktop", ".xml", ".py"}:
            assert f"dclip_resources/{path.relative_to(resources).as_posix()}" in names
    assert not any(name.startswith("dclip_app/resources/") for name in names)
    shipped = archive.read("dclip_resources/style.qss").decode("utf-8")
    assert shipped == (resources / "style.qss").read_text(encoding="utf-8")
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(entry_points).decode("utf-8")
    assert "dclip = dclip_core.cli:run" in text
    assert "dclip-app = dclip_app.__main__:main" in text


def test_installed_dclip_indexes_and_searches_without_torch(
    venv: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    bin_dir = venv / "bin"
    version = run(bin_dir / "dclip", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "dclip 0.1.0"
    no_torch = run(bin_dir / "python", "-c", "import torch", cwd=tmp_path)
    assert no_torch.returncode != 0  # the light runtime really is light

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee", "astronaut", "chelsea"):
        photo(name, (96, 64)).save(photos / f"{name}.jpg")
    env = env_for(tmp_path / "home")
    indexed = run(bin_dir / "dclip", "index", photos, "--model", tiny_bundle, env=env, cwd=tmp_path)
    assert indexed.returncode == 0, indexed.stderr[-3000:]
    found = run(
        bin_dir / "dclip", "search", "a cup of coffee", "--json", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr[-3000:]
    results = json.loads(found.stdout)["results"]
    assert sorted(Path(r["path"]).name for r in results) == [
        "astronaut.jpg", "chelsea.jpg", "coffee.jpg",
    ]  # fmt: skip


def test_installed_app_starts_offscreen_and_shows_its_icon(venv: Path, tmp_path: Path) -> None:
    # The offscreen self-check, run by the venv's interpreter from outside the checkout, so the
    # only dclip_app it can import is the installed one.
    check = run(
        venv / "bin" / "python", REPO / "packaging" / "app_check.py", "--seconds", "1",
        env=env_for(tmp_path / "home"), cwd=tmp_path,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr[-3000:]
    report = json.loads(check.stdout.splitlines()[-1])
    assert report["icon"]
    assert report["icon_has_pixels"]
    assert report["stylesheet_chars"] > 500
    assert report["page"] == "first-run"  # no model in a fresh home

    # And the real `dclip-app` script: it starts and keeps running until it is closed.
    app = subprocess.Popen(
        [venv / "bin" / "dclip-app", "--home", tmp_path / "home"],
        env=env_for(tmp_path / "home"), cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(4)
        assert app.poll() is None, app.communicate()[1][-3000:]
    finally:
        app.terminate()
        _, stderr = app.communicate(timeout=30)
    assert "Traceback" not in stderr, stderr[-3000:]
