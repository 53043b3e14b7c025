"""load_image opens every file a photo folder holds the way a viewer shows it, or says why not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dclip_core.errors import DclipError, ImageDecodeError
from dclip_core.runtime import images as images_module
from dclip_core.runtime.images import (
    REASON_CORRUPT,
    REASON_EMPTY,
    REASON_NOT_A_FILE,
    REASON_NOT_FOUND,
    REASON_TOO_LARGE,
    REASON_UNKNOWN_FORMAT,
    load_image,
)
from tests.helpers.images import (
    WrittenImage,
    animated_gif_frames,
    large_photo,
    photo,
    write_exif_rotated_jpeg,
    write_image_zoo,
    write_truncated_jpeg,
)


def mean_abs_difference(first: Image.Image, second: Image.Image) -> float:
    a = np.asarray(first.convert("RGB"), dtype=np.float32)
    b = np.asarray(second.convert("RGB"), dtype=np.float32)
    assert a.shape == b.shape
    return float(np.abs(a - b).mean())


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, WrittenImage]:
    return write_image_zoo(tmp_path_factory.mktemp("zoo"), include_large=False)


@pytest.fixture(scope="module")
def large_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "camera.jpg"
    large_photo().save(path, "JPEG", quality=90)
    return path


def test_every_format_and_mode_loads_as_written(zoo: dict[str, WrittenImage]) -> None:
    for name, written in zoo.items():
        image = load_image(written.path)
        assert (image.mode, image.size) == (written.mode, written.size), written.description
        # Detached from the file: the pixels stay readable after the file is gone.
        assert getattr(image, "fp", None) is None, name
        assert len(image.tobytes()) > 0


def test_lossless_files_keep_their_pixels(zoo: dict[str, WrittenImage]) -> None:
    with Image.open(zoo["i16_png"].path) as stored:
        expected = np.asarray(stored)
    loaded = np.asarray(load_image(zoo["i16_png"].path))
    assert loaded.max() > 60000  # all 16 bits survive, not clipped to 8
    np.testing.assert_array_equal(loaded, expected)
    np.testing.assert_array_equal(np.asarray(load_image(zoo["tiny_1x1"].path)), [[[200, 30, 60]]])


@pytest.mark.parametrize("orientation", [6, 3, 8])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    upright = photo("coffee")
    path = write_exif_rotated_jpeg(tmp_path / "camera.jpg", upright, orientation)
    with Image.open(path) as stored:
        stored_size = stored.size
        stored_pixels = stored.convert("RGB")
    loaded = load_image(path)
    assert loaded.size == upright.size == (600, 400)
    if orientation in (6, 8):
        assert stored_size == (400, 600)
    else:
        # Same size as stored, so make sure the pixels really turned.
        assert mean_abs_difference(stored_pixels, upright) > 20
    assert mean_abs_difference(loaded, upright) < 3  # JPEG noise only
    assert loaded.getexif().get(0x0112) is None  # nobody rotates it a second time


def test_draft_decoding_shrinks_large_jpegs_but_not_below_min_side(large_jpeg: Path) -> None:
    full = load_image(large_jpeg)
    assert full.size == (4000, 3000)
    reduced = load_image(large_jpeg, min_side=224)
    assert min(reduced.size) >= 224
    assert reduced.width * reduced.height <= full.width * full.height / 50
    assert reduced.size == (500, 375)  # libjpeg's 1/8 scale
    # The same picture, not a crop or garbage: close to the full decode scaled down.
    assert mean_abs_difference(reduced, full.resize(reduced.size, Image.Resampling.BOX)) < 4


@pytest.mark.parametrize(
    ("min_side", "expected_size"),
    [(400, (1000, 750)), (1000, (2000, 1500)), (1501, (4000, 3000)), (5000, (4000, 3000))],
)
def test_draft_scale_follows_min_side(
    large_jpeg: Path, min_side: int, expected_size: tuple[int, int]
) -> None:
    image = load_image(large_jpeg, min_side=min_side)
    assert image.size == expected_size
    assert min(image.size) >= min(min_side, 3000)


def test_draft_decoding_of_a_rotated_camera_jpeg(tmp_path: Path) -> None:
    upright = large_photo((1600, 1200))
    path = write_exif_rotated_jpeg(tmp_path / "portrait.jpg", upright, 6)
    image = load_image(path, min_side=224)
    assert image.size == (400, 300)  # upright, 1/4 scale
    small_upright = upright.resize(image.size, Image.Resampling.BOX)
    assert mean_abs_difference(image, small_upright) < 6


def test_min_side_leaves_other_formats_and_small_jpegs_whole(
    zoo: dict[str, WrittenImage],
) -> None:
    for name in ("rgb_png", "webp", "rgb_jpeg", "cmyk_jpeg", "tiny_1x1"):
        written = zoo[name]
        image = load_image(written.path, min_side=224)
        assert (image.mode, image.size) == (written.mode, written.size), name


def test_min_side_must_be_positive(zoo: dict[str, WrittenImage]) -> None:
    with pytest.raises(ValueError, match="min_side"):
        load_image(zoo["rgb_jpeg"].path, min_side=0)


def test_animated_gif_gives_its_first_frame(zoo: dict[str, WrittenImage]) -> None:
    frames = animated_gif_frames()
    with Image.open(zoo["animated_gif"].path) as opened:
        assert getattr(opened, "n_frames", 1) == 3
    image = load_image(zoo["animated_gif"].path)
    assert image.size == frames[0].size
    assert mean_abs_difference(image, frames[0]) < 12  # GIF's 256-colour palette
    assert mean_abs_difference(image, frames[1]) > 60


def test_heic_photos_open_through_pillow_heif(tmp_path: Path) -> None:
    import pillow_heif

    path = tmp_path / "phone.heic"
    pillow_heif.from_pillow(photo("chelsea")).save(path, quality=90)
    image = load_image(path)
    assert (image.mode, image.size) == ("RGB", (451, 300))
    assert mean_abs_difference(image, photo("chelsea")) < 6


def test_heic_without_pillow_heif_says_how_to_add_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "phone.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypmif1" + bytes(64))
    monkeypatch.setattr(images_module, "register_optional_formats", lambda: False)
    reason = images_module._unidentified_reason(path)
    assert reason.startswith(REASON_UNKNOWN_FORMAT)
    assert "pillow-heif" in reason


def _decode_error(path: Path, min_side: int | None = None) -> ImageDecodeError:
    with pytest.raises(ImageDecodeError) as caught:
        load_image(path, min_side=min_side)
    error = caught.value
    assert isinstance(error, DclipError)
    assert error.path == str(path)
    message = str(error)
    assert str(path) in message
    assert error.reason in message
    assert "\n" not in message
    return error


def test_truncated_jpeg_is_a_decode_error(tmp_path: Path) -> None:
    path = write_truncated_jpeg(tmp_path / "cut.jpg")
    assert _decode_error(path).reason.startswith(REASON_CORRUPT)
    assert _decode_error(path, min_side=64).reason.startswith(REASON_CORRUPT)


def test_truncated_png_is_a_decode_error(tmp_path: Path) -> None:
    full = tmp_path / "full.png"
    photo("coffee").save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:20_000])
    assert _decode_error(cut).reason.startswith(REASON_CORRUPT)


def test_garbage_after_a_jpeg_header_is_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + np.random.default_rng(0).bytes(5000))
    reason = _decode_error(path).reason
    assert reason.startswith((REASON_CORRUPT, REASON_UNKNOWN_FORMAT))


def test_empty_file_is_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert _decode_error(path).reason == REASON_EMPTY


def test_text_file_is_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: milk, eggs\n", encoding="utf-8")
    assert _decode_error(path).reason == REASON_UNKNOWN_FORMAT


def test_missing_file_and_folder_are_decode_errors(tmp_path: Path) -> None:
    assert _decode_error(tmp_path / "gone.jpg").reason == REASON_NOT_FOUND
    assert _decode_error(tmp_path).reason == REASON_NOT_A_FILE


def test_decompression_bomb_check_stays_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    Image.new("L", (200, 200)).save(path)
    # Pillow refuses images over twice its limit; lower the limit instead of writing a real bomb.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    assert _decode_error(path).reason.startswith(REASON_TOO_LARGE)
    assert Image.MAX_IMAGE_PIXELS == 10_000  # load_image did not switch the check off
