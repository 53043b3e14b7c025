"""``dclip explain`` end to end: a fresh interpreter, the test-tiny bundle with explain/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.explain.conftest import build_explain_bundle
from tests.helpers.images import photo

REPO = Path(__file__).resolve().parents[2]


def dclip(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys\nfrom dclip_core.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "DCLIP_HOME": str(home)},
        timeout=300,
    )


@pytest.fixture(scope="module")
def bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_explain_bundle(tiny_bundle, tmp_path_factory.mktemp("cli-explain"))


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "coffee.jpg"
    photo("coffee", (240, 160)).save(path)
    return path


def test_explain_json_and_png(bundle: Path, picture: Path, tmp_path: Path) -> None:
    png = tmp_path / "overlay.png"
    query = "a red cup on a table"
    done = dclip(
        "explain", str(picture), query, "--model", str(bundle), "--json", "--layer", "0",
        "--head", "1", "--png", str(png), home=tmp_path / "home",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["schema"] == "dclip.explain/1"
    assert data["method"] == "teacher"
    assert data["meaningful"] is False  # random test-tiny: labelled
    assert data["image_size"] == [240, 160]
    assert data["regions"][0] == {
        "box": [0.0, 0.0, 240.0, 160.0],
        "label": "photo",
        "confidence": 1.0,
        "kind": "photo",
    }
    spans, regions = len(data["spans"]), len(data["regions"])
    assert [query[s["chars"][0] : s["chars"][1]] for s in data["spans"]] == query.split()
    assert data["view"] == {
        "direction": "text_to_region",
        "layer": 0,
        "head": 1,
        "hidden_regions": [],
    }
    assert data["weights"] == data["text_to_region"][0][1]
    assert len(data["weights"]) == spans
    assert all(len(row) == regions for row in data["weights"])
    assert all(abs(sum(row) - 1) < 1e-4 for row in data["weights"])
    assert png.read_bytes().startswith(b"\x89PNG")
    assert "random weights" in done.stderr


def test_explain_table_with_similarity(bundle: Path, picture: Path, tmp_path: Path) -> None:
    done = dclip(
        "explain", str(picture), "a red cup", "--model", str(bundle), "--method", "similarity",
        home=tmp_path / "home",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "method  similarity" in done.stdout
    assert "a red cup" in done.stdout.splitlines()[-1]  # the one phrase span, last row


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}", "a cup"], "file not found"),
        (["{garbage}", "a cup"], "not a recognised image format"),
        (["{photo}", "  "], "the query is empty"),
        (["{photo}", "a cup", "--layer", "7"], "layer 7 does not exist"),
        (["{photo}", "a cup", "--model", "{plain}", "--method", "teacher"], "has no explain/"),
    ],
)
def test_bad_input_is_one_line(
    bundle: Path,
    tiny_bundle: Path,
    picture: Path,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image")
    names = {
        "missing": str(tmp_path / "nowhere.jpg"),
        "garbage": str(garbage),
        "photo": str(picture),
        "plain": str(tiny_bundle),
    }
    argv = [a.format(**names) for a in args]
    if "--model" not in argv:
        argv += ["--model", str(bundle)]
    done = dclip("explain", *argv, home=tmp_path / "home")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if not line.startswith("dclip: note")]
    assert len(errors) == 1, done.stderr
    assert message in errors[0]
    assert "Traceback" not in done.stderr
