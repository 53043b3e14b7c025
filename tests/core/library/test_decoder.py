"""The defensive decoder: photos come out upright with their facts; bad files get a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from dclip_core.library.decoder import (
    DecodedImage,
    DecodeFailure,
    decode_for_index,
    thumbnail_file,
    write_thumbnail,
)
from dclip_core.library.scanner import printable_path
from tests.helpers.images import (
    USABLE,
    exif_bytes,
    write_hostile_files,
    write_real_photos,
)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_real_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("hostile")
    return folder, write_hostile_files(folder)


def _decode(path: Path, min_side: int = 64) -> DecodedImage | DecodeFailure:
    shown, ok = printable_path(str(path))
    st = path.stat()
    return decode_for_index(
        str(path) if ok else shown,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        path_ok=ok,
        min_side=min_side,
    )


def test_every_real_format_decodes_to_rgb(photos: dict[str, Path]) -> None:
    for name, path in photos.items():
        result = _decode(path)
        assert isinstance(result, DecodedImage), (name, result)
        assert result.image.mode == "RGB"
        assert result.width > 0
        assert result.height > 0


def test_exif_date_and_orientation(photos: dict[str, Path]) -> None:
    sideways = _decode(photos["sideways.jpg"])
    assert isinstance(sideways, DecodedImage)
    # Stored 400 tall x 600 wide rotated to 400x600 landscape->portrait; EXIF 6 turns it back.
    assert (sideways.width, sideways.height) == (600, 400)
    assert sideways.image.width > sideways.image.height
    assert (sideways.taken_at, sideways.taken_source) == ("2019-12-24T18:30:00", "exif")
    plain = _decode(photos["chelsea.png"])
    assert isinstance(plain, DecodedImage)
    assert plain.taken_source == "mtime"


def test_large_jpeg_is_decoded_reduced_but_reports_full_size(photos: dict[str, Path]) -> None:
    result = _decode(photos["large-camera.jpg"], min_side=224)
    assert isinstance(result, DecodedImage)
    assert (result.width, result.height) == (4000, 3000)
    assert 224 <= min(result.image.size) < 3000 // 2


def test_orientation_upright_pixels(tmp_path: Path) -> None:
    # Upright: left half red, right half blue. Stored turned 90° counter-clockwise with EXIF
    # orientation 6 ("rotate 90° clockwise to view"), as phones write portrait shots.
    upright = Image.new("RGB", (200, 100), (255, 0, 0))
    upright.paste(Image.new("RGB", (100, 100), (0, 0, 255)), (100, 0))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif_bytes(orientation=6), quality=95)
    result = _decode(path)
    assert isinstance(result, DecodedImage)
    assert result.image.size == (200, 100) == (result.width, result.height)
    left, right = result.image.getpixel((20, 50)), result.image.getpixel((180, 50))
    assert isinstance(left, tuple)
    assert isinstance(right, tuple)
    assert (left[0] > 200, left[2] < 60) == (True, True), left
    assert (right[2] > 200, right[0] < 60) == (True, True), right


def test_every_hostile_file_gets_a_reason(hostile: tuple[Path, dict[str, str]]) -> None:
    folder, expected = hostile
    assert len(expected) >= 20
    by_name = {os.fsencode(p.name): p for p in folder.iterdir()}
    for name, code in expected.items():
        result = _decode(by_name[os.fsencode(name)])
        if code == USABLE:
            assert isinstance(result, DecodedImage), (name, result)
            continue
        assert isinstance(result, DecodeFailure), (name, result)
        assert (result.code, bool(result.message)) == (code, True), (name, result)


def test_vanished_file_is_recorded_as_vanished(tmp_path: Path) -> None:
    path = tmp_path / "gone.jpg"
    result = decode_for_index(str(path), size=1234, mtime_ns=0)
    assert isinstance(result, DecodeFailure)
    assert result.code == "vanished"


def test_thumbnail_is_written_atomically_with_longest_side(
    photos: dict[str, Path], tmp_path: Path
) -> None:
    result = _decode(photos["coffee.webp"], min_side=256)
    assert isinstance(result, DecodedImage)
    target = thumbnail_file(tmp_path, "ab" * 32, 128)
    write_thumbnail(result.image, target, 128)
    with Image.open(target) as thumb:
        assert max(thumb.size) == 128
        assert thumb.format == "JPEG"
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left
