"""The data check: counts, what is left out and why, refusals, and the held-out split."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dclip_core.errors import DatasetError
from dclip_core.finetune.data import parse_source
from dclip_core.finetune.datacheck import DataCheck, Split, check_data, split_held_out
from dclip_core.train.datasets import CaptionedImage


def _caption_folder(root: Path, shapes: Path, count: int) -> Path:
    """``count`` photos of the shapes folder, each with a ``.txt`` caption beside it."""
    root.mkdir()
    for i, image in enumerate(sorted(shapes.glob("*.png"))[:count]):
        shutil.copy(image, root / image.name)
        (root / image.name).with_suffix(".txt").write_text(f"scene number {i}\n")
    return root


def _check(folder: Path, fmt: str = "folder") -> tuple[DataCheck, Split]:
    return check_data([parse_source(f"{fmt}={folder}")], context_length=77, seed=0)


def test_check_counts_and_lists_everything_it_leaves_out(
    shapes_folder: Path, tmp_path: Path
) -> None:
    folder = _caption_folder(tmp_path / "photos", shapes_folder, 12)
    photos = sorted(folder.glob("*.png"))
    # caption extension mismatch: a .caption file the reader does not read
    photos[0].with_suffix(".txt").unlink()
    photos[0].with_suffix(".caption").write_text("a red circle")
    # an empty caption file
    photos[1].with_suffix(".txt").write_text("  \n")
    # an unreadable photo
    photos[2].write_bytes(b"not a png at all")
    # a byte-identical twin with its own caption
    shutil.copy(photos[3], folder / "twin.png")
    (folder / "twin.png").with_suffix(".txt").write_text("scene number 3\n")
    # a caption longer than the context
    photos[4].with_suffix(".txt").write_text("red " * 100)

    check, split = _check(folder)

    assert (check.photos, check.captioned, check.trainable) == (13, 11, 10)
    assert [Path(p).name for p in check.without_caption] == [photos[0].name, photos[1].name]
    assert [Path(p).name for p in check.empty_caption_files] == [photos[1].name]
    assert check.caption_extensions == {".caption": 1}
    assert [Path(p).name for p, _ in check.unreadable] == [photos[2].name]
    assert check.long_captions == 1
    assert check.duplicate_photos == 2
    assert check.shared_captions == [("scene number 3", 2)]
    assert check.duplicates_across_split == 0
    assert check.train + check.held_out == 10
    assert len(check.samples) == 3
    warnings = " | ".join(check.warnings)
    assert ".caption" in warnings
    assert "rename them to .txt" in warnings
    assert "2 of 13 photos have no caption" in warnings
    assert "fewer than 100 rarely helps" in warnings
    text = "\n".join(check.lines())
    assert "1 unreadable photos (left out)" in text
    assert {r.path.name for r in split.train + split.held_out} == {
        p.name for p in folder.glob("*.png")
    } - {photos[0].name, photos[1].name, photos[2].name}


def test_a_caption_extension_mismatch_that_empties_the_data_is_refused(
    shapes_folder: Path, tmp_path: Path
) -> None:
    folder = _caption_folder(tmp_path / "photos", shapes_folder, 6)
    for caption in folder.glob("*.txt"):
        caption.rename(caption.with_suffix(".caption"))
    with pytest.raises(DatasetError) as raised:
        _check(folder)
    message = str(raised.value)
    assert "\n" not in message
    assert "none of its 6 photos has a caption" in message
    assert "6 have a .caption file beside them" in message
    assert "rename" in message


def test_unreadable_photos_only_are_refused(shapes_folder: Path, tmp_path: Path) -> None:
    folder = _caption_folder(tmp_path / "photos", shapes_folder, 5)
    for photo in folder.glob("*.png"):
        photo.write_bytes(b"\x89PNG broken")
    with pytest.raises(DatasetError, match="all 5 captioned photos are unreadable"):
        _check(folder)


def test_a_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        _check(tmp_path / "nowhere")


def test_too_few_photos_are_refused(shapes_folder: Path, tmp_path: Path) -> None:
    folder = _caption_folder(tmp_path / "photos", shapes_folder, 3)
    with pytest.raises(DatasetError, match="needs at least 4"):
        _check(folder)


def test_shapes_folders_bring_their_boxes(shapes_folder: Path) -> None:
    check, split = _check(shapes_folder, "shapes")
    assert check.trainable == 24
    assert all(r.boxes for r in split.train)


def test_split_is_seeded_and_keeps_twins_on_one_side() -> None:
    records = [CaptionedImage(Path(f"{i}.png"), [f"c{i}"]) for i in range(20)]
    hashes = [f"h{i // 2}" for i in range(20)]  # ten pairs of twins
    first = split_held_out(records, hashes, 0.2, seed=5)
    again = split_held_out(records, hashes, 0.2, seed=5)
    other = split_held_out(records, hashes, 0.2, seed=6)
    assert first == again
    assert first.held_out != other.held_out
    held = {int(r.path.stem) // 2 for r in first.held_out}
    trained = {int(r.path.stem) // 2 for r in first.train}
    assert held
    assert not held & trained
    assert len(first.held_out) == 4
