"""Runtime preprocessing gives the pixels open_clip's inference transform gives, on real photos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dclip_core.runtime.images import load_image
from dclip_core.runtime.preprocess import ImagePreprocess, preprocess_batch, preprocess_image
from tests.helpers.images import photo, photo_strip, sixteen_bit, write_image_zoo

TOLERANCE = 1e-4
RESIZE_MODES = ("shortest", "longest", "squash")
INTERPOLATIONS = ("bicubic", "bilinear")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Image.Image]:
    """Decoded files of every format/mode (EXIF-rotated ones upright), plus in-memory edge cases."""
    folder = tmp_path_factory.mktemp("zoo")
    decoded = {
        name: load_image(written.path)
        for name, written in write_image_zoo(folder, include_large=False).items()
    }
    decoded.update(
        {
            "retina_1411x1396": photo("retina"),
            "odd_301x223": photo("astronaut", (301, 223)),
            "exact_224": photo("coffee", (224, 224)),
            "exact_64": photo("chelsea", (64, 64)),
            "small_40x30": photo("coffee", (40, 30)),
            "tiny_2x3": photo("astronaut", (2, 3)),
            "strip_3x900": photo_strip("rocket", (3, 900)),
            "i16_odd": sixteen_bit("astronaut", (150, 97)),
            "cmyk_small": photo("chelsea", (90, 60)).convert("CMYK"),
            "binary_1": photo("camera", (120, 80)).convert("1"),
            "float_f": photo("camera", (100, 70)).convert("F"),
            "int32_i": photo("camera", (70, 100)).convert("I"),
            "ycbcr": photo("coffee", (120, 90)).convert("YCbCr"),
        }
    )
    return decoded


@pytest.fixture(scope="module")
def open_clip_transform() -> Callable[[ImagePreprocess], Callable[[Image.Image], Any]]:
    from open_clip.transform import image_transform

    def make(cfg: ImagePreprocess) -> Callable[[Image.Image], Any]:
        return image_transform(  # type: ignore[no-any-return]
            cfg.size,
            is_train=False,
            mean=cfg.mean,
            std=cfg.std,
            resize_mode=cfg.resize_mode,
            interpolation=cfg.interpolation,
        )

    return make


def test_the_photo_set_covers_the_modes_users_have(images: dict[str, Image.Image]) -> None:
    modes = {image.mode for image in images.values()}
    assert {"RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", "1", "F", "I", "YCbCr"} <= modes
    sizes = [image.size for image in images.values()]
    assert (1, 1) in sizes
    assert max(w / h for w, h in sizes) > 40
    assert max(h / w for w, h in sizes) > 40


@pytest.mark.slow
@pytest.mark.parametrize("size", [224, 64])
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("resize_mode", RESIZE_MODES)
def test_equals_open_clip_transform(
    images: dict[str, Image.Image],
    open_clip_transform: Callable[[ImagePreprocess], Callable[[Image.Image], Any]],
    resize_mode: str,
    interpolation: str,
    size: int,
) -> None:
    cfg = ImagePreprocess(size=size, resize_mode=resize_mode, interpolation=interpolation)  # type: ignore[arg-type]
    reference_transform = open_clip_transform(cfg)
    compared = 0
    for name, image in images.items():
        try:
            expected = reference_transform(image).numpy()
        except ValueError:
            # open_clip itself fails when 'longest' shrinks a strip's short side to 0 pixels;
            # test_longest_keeps_extreme_strips_visible covers what we do instead.
            assert resize_mode == "longest", name
            assert min(image.size) * size < max(image.size) / 2, name
            continue
        actual = preprocess_image(image, cfg)
        assert actual.shape == (3, size, size), name
        assert actual.dtype == np.float32, name
        difference = float(np.abs(actual - expected).max())
        assert difference <= TOLERANCE, f"{name} ({image.mode} {image.size}): {difference}"
        compared += 1
    assert compared >= len(images) - 2


def test_longest_keeps_extreme_strips_visible() -> None:
    cfg = ImagePreprocess(size=64, resize_mode="longest")
    strip = photo_strip("coffee", (1000, 3))
    pixels = preprocess_image(strip, cfg)
    black = preprocess_image(Image.new("RGB", (5, 5)), ImagePreprocess(size=64))[:, 0, 0]
    # open_clip would make the strip 0 pixels tall and fail; we keep one row of the photo in the
    # middle (the odd padding pixel goes below), black padding above and below.
    photo_rows = np.flatnonzero(np.abs(pixels - black[:, None, None]).max(axis=(0, 2)) > 1e-6)
    assert list(photo_rows) == [31]


def test_batch_stacks_single_images(images: dict[str, Image.Image]) -> None:
    cfg = ImagePreprocess(size=64)
    chosen = [images["rgb_jpeg"], images["rgba_png"], images["p_png"], images["tiny_1x1"]]
    batch = preprocess_batch(chosen, cfg)
    assert batch.shape == (4, 3, 64, 64)
    assert batch.dtype == np.float32
    for row, image in zip(batch, chosen, strict=True):
        np.testing.assert_array_equal(row, preprocess_image(image, cfg))
    assert preprocess_batch([], cfg).shape == (0, 3, 64, 64)


def test_normalisation_uses_the_configured_mean_and_std() -> None:
    white = Image.new("RGB", (10, 10), (255, 255, 255))
    cfg = ImagePreprocess(size=8, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    pixels = preprocess_image(white, cfg)
    np.testing.assert_allclose(pixels[:, 0, 0], [1.0, 3.0, 0.5], rtol=1e-6)


def test_the_input_image_is_left_unchanged() -> None:
    image = photo("coffee", (90, 60)).convert("P")
    before = image.tobytes()
    preprocess_image(image, ImagePreprocess(size=64, resize_mode="longest"))
    assert (image.mode, image.size, image.tobytes()) == ("P", (90, 60), before)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (ImagePreprocess(resize_mode="fit"), "resize mode"),  # type: ignore[arg-type]
        (ImagePreprocess(interpolation="nearest"), "interpolation"),  # type: ignore[arg-type]
    ],
)
def test_unknown_settings_are_rejected(cfg: ImagePreprocess, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preprocess_image(photo("coffee", (30, 20)), cfg)


def test_an_empty_image_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="0x5"):
        preprocess_image(Image.new("RGB", (0, 5)), ImagePreprocess(size=64))
