"""The library commands as a user runs them: separate processes, DCLIP_HOME, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.images import write_hostile_files, write_real_photos

REPO = Path(__file__).resolve().parents[2]


def dclip(*args: str, home: Path, pre: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``dclip ARGS`` in a fresh interpreter (``pre`` runs first, e.g. to hide a package)."""
    code = f"{pre}\nimport sys\nfrom dclip_core.cli import main\nsys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "DCLIP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-photos")
    write_real_photos(root / "real")
    write_hostile_files(root / "hostile")
    return root


@pytest.mark.slow
def test_index_search_status_forget(photos: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    indexed = dclip("index", str(photos), "--model", str(tiny_bundle), "--json", home=home)
    assert indexed.returncode == 0, indexed.stderr
    report = json.loads(indexed.stdout)
    assert report["failed"] >= 20
    assert report["embedded"] > 10
    assert report["model_complete"] is True
    assert "random weights" in indexed.stderr  # the meaningless-model note
    assert (home / "data" / "library" / "library.sqlite3").is_file()

    image = photos / "real" / "coffee.webp"
    found = dclip(
        "search",
        "a cup",
        "2:coffee",
        "--minus",
        "tea",
        "--image",
        str(image),
        "--limit",
        "5",
        "--json",
        home=home,
    )
    assert found.returncode == 0, found.stderr
    out = json.loads(found.stdout)
    assert out["schema"] == "dclip.search/1"
    assert out["query"]["text"] == [
        {"text": "a cup", "weight": 1.0},
        {"text": "coffee", "weight": 2.0},
    ]
    assert out["query"]["minus"] == [{"text": "tea", "weight": 1.0}]
    assert out["model"]["name"] == "test-tiny"
    assert out["took_ms"] > 0
    assert [r["rank"] for r in out["results"]] == [1, 2, 3, 4, 5]
    for r in out["results"]:
        assert Path(r["path"]).is_absolute()
        assert isinstance(r["score"], float)
        assert r["relevant"] == (r["score"] >= out["relevance"]["threshold"])

    by_example = dclip("search", "--image", str(image), "--limit", "1", "--json", home=home)
    assert json.loads(by_example.stdout)["results"][0]["path"] == str(image)

    text = dclip("search", "anything", "--limit", "3", home=home)
    assert text.returncode == 0
    assert len(text.stdout.strip().splitlines()) == 3

    status = dclip("status", "--json", home=home)
    data = json.loads(status.stdout)
    assert data["schema"] == "dclip.status/1"
    assert data["failed"] == len(data["failed_files"]) >= 20
    assert {f["code"] for f in data["failed_files"]} >= {"zero-bytes", "truncated", "not-an-image"}
    assert data["roots"][0]["path"] == str(photos)
    assert data["models"][0]["active"] is True
    plain = dclip("status", home=home)
    assert "could not be used" in plain.stdout

    forget = dclip("forget", str(photos), home=home)
    assert forget.returncode == 0, forget.stderr
    after = json.loads(dclip("status", "--json", home=home).stdout)
    assert (after["images"], after["roots"]) == (0, [])


def test_errors_are_one_line(tiny_bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    empty = dclip("search", "dogs", home=home)
    assert empty.returncode == 1
    assert empty.stderr.strip().splitlines() == [
        "dclip: error: the library has no indexed photos yet; run `dclip index FOLDER`"
    ]
    missing = dclip("index", str(tmp_path / "nope"), "--model", str(tiny_bundle), home=home)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("dclip: error: ")
    assert "is not a folder" in missing.stderr
    bad_date = dclip("search", "x", "--after", "last tuesday", home=home)
    assert bad_date.returncode == 2
    assert "not a date" in bad_date.stderr


@pytest.mark.slow
def test_heic_without_the_extra_is_reported_not_broken(tiny_bundle: Path, tmp_path: Path) -> None:
    folder = tmp_path / "phone"
    written = write_real_photos(folder)
    home = tmp_path / "home"
    hide_heif = "import sys; sys.modules['pillow_heif'] = None"
    result = dclip(
        "index", str(folder), "--model", str(tiny_bundle), "--json", home=home, pre=hide_heif
    )
    assert result.returncode == 0, result.stderr
    failed = json.loads(dclip("status", "--json", home=home).stdout)["failed_files"]
    assert {Path(f["path"]).name: f["code"] for f in failed} == {
        "heic-photo.heic": "needs-heif",
        "avif-photo.avif": "needs-heif",
    }
    assert "pip install 'dclip[heif]'" in failed[0]["reason"]
    assert json.loads(result.stdout)["embedded"] == len(written) - 2


@pytest.mark.slow
def test_region_index_reports_where_a_detail_matched(tiny_bundle: Path, tmp_path: Path) -> None:
    from PIL import Image

    from tests.helpers.images import sample_photo

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "chelsea", "rocket"):
        sample_photo(name).convert("RGB").resize((200, 150)).save(folder / f"{name}.png")
    home = tmp_path / "home"
    indexed = dclip(
        "index", str(folder), "--model", str(tiny_bundle), "--regions", "grid", "--json", home=home
    )
    assert indexed.returncode == 0, indexed.stderr
    assert json.loads(indexed.stdout)["model"]["fingerprint"].endswith("+grid")

    detail = tmp_path / "detail.png"
    with Image.open(folder / "chelsea.png") as image:
        image.crop((0, 0, 120, 90)).save(detail)  # exactly the grid's top-left crop
    found = dclip("search", "--image", str(detail), "--limit", "1", "--json", home=home)
    assert found.returncode == 0, found.stderr
    (best,) = json.loads(found.stdout)["results"]
    assert Path(best["path"]).name == "chelsea.png"
    assert best["region"] == [0.0, 0.0, 0.6, 0.6]
    text = dclip("search", "--image", str(detail), "--limit", "1", home=home)
    assert "chelsea.png  (top left)" in text.stdout

    status = json.loads(dclip("status", "--json", home=home).stdout)
    assert [m["regions"] for m in status["models"]] == ["grid"]
    assert "with grid regions" in dclip("status", home=home).stdout

    unknown = dclip("index", "--regions", "tiles", home=home)
    assert unknown.returncode == 2
    assert "invalid choice: 'tiles'" in unknown.stderr
