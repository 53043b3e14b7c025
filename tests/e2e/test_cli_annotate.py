"""``dclip annotate`` from a shell: status, export, import into another library, suggest; and a
teacher trained from library annotations (``--data library=FOLDER``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dclip_core.config.paths import HOME_ENV, get_paths
from dclip_core.library import Library
from tests.helpers.images import sample_photo

REPO = Path(__file__).resolve().parents[2]


def dclip(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DCLIP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "dclip_core", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )


def _photos(folder: Path) -> Path:
    (folder / "trip").mkdir(parents=True)
    for i, name in enumerate(["astronaut", "chelsea", "coffee", "rocket"]):
        sample_photo(name).resize((120 + i, 90)).save(
            folder / ("trip" if i % 2 else "") / f"{name}.jpg"
        )
    return folder


def _annotate(library_dir: Path, photos: Path) -> None:
    library = Library(library_dir)
    api = library.annotations()
    for name, caption, box in [
        ("astronaut", "an astronaut in a white suit", (10.0, 5.0, 60.0, 80.0, "person")),
        ("trip/chelsea", "a cat looking up", (20.0, 10.0, 80.5, 70.25, "cat")),
        ("coffee", "a cup of coffee on a saucer", (30.0, 20.0, 50.0, 50.0, "cup")),
    ]:
        image = library.image_by_path(photos / f"{name}.jpg")
        assert image is not None
        api.add_caption(image.id, caption)
        api.add_box(image.id, *box[:4], box[4])
    library.close()


def test_status_export_import_round_trip(tiny_bundle: Path, tmp_path: Path) -> None:
    home_a, home_b = tmp_path / "home-a", tmp_path / "home-b"
    photos = _photos(tmp_path / "photos")
    assert dclip("index", str(photos), "--model", str(tiny_bundle), home=home_a).returncode == 0
    _annotate(_library_dir(home_a), photos)

    status = dclip("annotate", "status", "--json", home=home_a)
    assert status.returncode == 0, status.stderr
    folders = {Path(f["folder"]).name: f for f in json.loads(status.stdout)["folders"]}
    assert (folders["photos"]["photos"], folders["photos"]["annotated"]) == (2, 2)
    assert (folders["trip"]["photos"], folders["trip"]["annotated"]) == (2, 1)

    exported = dclip("annotate", "export", str(tmp_path / "coco-a"), home=home_a)
    assert exported.returncode == 0, exported.stderr
    assert "exported 3 annotated of 4 photos" in exported.stderr

    copy = tmp_path / "copy"
    shutil.copytree(photos, copy)
    assert dclip("index", str(copy), "--model", str(tiny_bundle), home=home_b).returncode == 0
    imported = dclip("annotate", "import", str(tmp_path / "coco-a"), home=home_b)
    assert imported.returncode == 0, imported.stderr
    assert "3 captions, 3 boxes" in imported.stderr
    assert dclip("annotate", "export", str(tmp_path / "coco-b"), home=home_b).returncode == 0
    for name in ("captions.json", "instances.json"):
        assert (tmp_path / "coco-a" / name).read_bytes() == (
            tmp_path / "coco-b" / name
        ).read_bytes()

    hostile = tmp_path / "hostile.json"
    hostile.write_text(
        json.dumps({"images": [{"id": 1, "file_name": "../../etc/passwd"}], "annotations": []})
    )
    refused = dclip("annotate", "import", str(hostile), home=home_b)
    assert refused.returncode == 1
    assert "climbs out with '..'; refused" in refused.stderr
    assert "nothing imported: 1 invalid items" in refused.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    failed = dclip("annotate", "import", str(broken), home=home_b)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1
    assert "cannot read" in failed.stderr


def _library_dir(home: Path) -> Path:
    """The library a ``dclip`` run with ``DCLIP_HOME=home`` uses."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV, str(home))
        return get_paths().library_dir


@pytest.mark.slow
def test_suggest_stores_reviewable_boxes_once(tiny_bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    photos = _photos(tmp_path / "photos")
    assert dclip("index", str(photos), "--model", str(tiny_bundle), home=home).returncode == 0
    first = dclip(
        "annotate",
        "suggest",
        str(photos),
        "--detector",
        "yolo-test-tiny",
        "--conf",
        "0.01",
        home=home,
    )
    assert first.returncode == 0, first.stderr
    assert "on 4 photos" in first.stderr
    status = json.loads(dclip("annotate", "status", "--json", home=home).stdout)
    suggested = sum(f["suggested"] for f in status["folders"])
    assert suggested > 0
    assert sum(f["boxed"] for f in status["folders"]) == 0  # nothing accepted by itself
    again = dclip(
        "annotate",
        "suggest",
        str(photos),
        "--detector",
        "yolo-test-tiny",
        "--conf",
        "0.01",
        home=home,
    )
    assert again.returncode == 0, again.stderr
    assert "0 boxes suggested" in again.stderr
    status = json.loads(dclip("annotate", "status", "--json", home=home).stdout)
    assert sum(f["suggested"] for f in status["folders"]) == suggested
    without = dclip("annotate", "suggest", str(photos), home=home)
    assert without.returncode == 2
    assert "has no explain/detector.onnx" in without.stderr


@pytest.mark.slow
def test_train_teacher_from_library_annotations(tiny_bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    photos = _photos(tmp_path / "photos")
    assert dclip("index", str(photos), "--model", str(tiny_bundle), home=home).returncode == 0
    _annotate(_library_dir(home), photos)
    run = tmp_path / "run"
    trained = dclip(
        "train-teacher",
        "--data",
        f"library={photos}",
        "--model",
        "test-tiny",
        "--recipe",
        "quick",
        "--regions",
        "gt",
        "--batch-size",
        "2",
        "--epochs",
        "1",
        "--set",
        "precision=fp32",
        "--out",
        str(run),
        home=home,
    )
    assert trained.returncode == 0, trained.stderr
    assert "3 images" in trained.stderr  # the three annotated photos, the fourth has none
    assert (run / "teacher.safetensors").is_file()
    nothing = dclip(
        "train-teacher",
        "--data",
        f"library={tmp_path / 'elsewhere'}",
        "--model",
        "test-tiny",
        "--out",
        str(tmp_path / "run2"),
        home=home,
    )
    assert nothing.returncode == 1
    assert "no annotated photos under" in nothing.stderr


def test_finetune_checks_library_annotations(tiny_bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    photos = _photos(tmp_path / "photos")
    assert dclip("index", str(photos), "--model", str(tiny_bundle), home=home).returncode == 0
    _annotate(_library_dir(home), photos)
    args = ["finetune", "--data", f"library={photos}", "--model", "test-tiny", "--events", "jsonl"]

    refused = dclip(*args, home=home)  # three captioned photos: too few to split
    assert refused.returncode == 1
    events = [json.loads(line) for line in refused.stdout.splitlines()]
    check = next(e for e in events if e["event"] == "datacheck")
    # What was found is told even when refused: the three annotated photos, the fourth has none.
    assert check["trainable"] == 3
    assert "needs at least 4" in check["refused"]
    assert events[-1]["event"] == "error"
    assert not (home / "data" / "finetune").exists()  # nothing half-written

    library = Library(_library_dir(home))
    rocket = library.image_by_path(photos / "trip" / "rocket.jpg")
    assert rocket is not None
    library.annotations().add_caption(rocket.id, "a rocket on its launch pad")
    library.close()
    checked = dclip(*args, "--check-only", home=home)
    assert checked.returncode == 0, checked.stderr
    check = json.loads(checked.stdout.splitlines()[-1])
    assert check["event"] == "datacheck"
    assert check["refused"] is None
    assert (check["trainable"], check["train"] + check["held_out"]) == (4, 4)
