"""The process entry point: a finished search exits without the interpreter's teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dclip_core.library import Library
from dclip_core.runtime.encoders import ClipEncoder
from tests.helpers.images import sample_photo

REPO = Path(__file__).resolve().parents[3]

# Runs `dclip ARGS` through run() with an exit handler that says whether the teardown ran.
ENTRY = """
import atexit, sys
atexit.register(lambda: print("teardown ran", file=sys.stderr))
sys.argv = ["dclip", *sys.argv[1:]]
from dclip_core.cli import run
run()
"""


def _dclip(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "DCLIP_HOME": str(home)},
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Path:
    """A DCLIP_HOME whose library holds 6 real photos indexed with test-tiny."""
    root = tmp_path_factory.mktemp("entry")
    photos = root / "photos"
    photos.mkdir()
    for name in ["astronaut", "chelsea", "coffee", "rocket", "camera", "cat"]:
        sample_photo(name).save(photos / f"{name}.jpg")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCLIP_HOME", str(root / "home"))
        library = Library.open()
        library.index([photos], encoder=ClipEncoder.load(tiny_bundle, provider="cpu"))
        library.close()
    return root / "home"


def test_a_successful_search_skips_the_teardown_and_its_output_is_complete(home: Path) -> None:
    done = _dclip(home, "search", "a cat", "--json", "--limit", "4")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    assert "teardown ran" not in done.stderr


def test_a_failed_search_and_other_commands_tear_down_as_usual(home: Path, tmp_path: Path) -> None:
    status = _dclip(home, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["images"] == 6
    assert "teardown ran" in status.stderr
    failed = _dclip(tmp_path / "empty-home", "search", "a cat")
    assert failed.returncode != 0
    assert "dclip: error: the library has no indexed photos yet" in failed.stderr
    assert "teardown ran" in failed.stderr
