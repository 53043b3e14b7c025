"""Realistic test photos, and writers of image files in every format and mode a library meets.

The photos are scikit-image's bundled samples (real photographs shipped inside its wheel, so no
download): textures, skin, sky and sharp edges exercise resampling the way a user's photos do.
Derived images (other sizes, modes and aspect ratios) are resized or cropped from them.

Typical use::

    zoo = write_image_zoo(tmp_path)              # name -> WrittenImage
    write_exif_rotated_jpeg(path, photo("coffee"), orientation=6)
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# Real photographs bundled in scikit-image's wheel (skimage/data/*), by name.
SAMPLE_PHOTOS: dict[str, str] = {
    "astronaut": "astronaut.png",  # 512x512 RGB portrait
    "coffee": "coffee.png",  # 600x400 RGB still life
    "chelsea": "chelsea.png",  # 451x300 RGB cat
    "rocket": "rocket.jpg",  # 640x427 RGB
    "motorcycle": "motorcycle_left.png",  # 741x500 RGB
    "retina": "retina.jpg",  # 1411x1396 RGB, mostly dark
    "camera": "camera.png",  # 512x512 grayscale
}

# A user's camera: the size the library decodes in draft mode.
LARGE_PHOTO_SIZE = (4000, 3000)


@dataclass(frozen=True)
class WrittenImage:
    """A file written by this module and what a correct decoder must return for it.

    Attributes:
        path: the file.
        mode: the PIL mode the file opens in (first frame for animations).
        size: ``(width, height)`` after the EXIF orientation is applied.
        description: one line for test ids and failure messages.
    """

    path: Path
    mode: str
    size: tuple[int, int]
    description: str


def _skimage_data_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-image is not installed: pip install -e '.[dev]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@functools.cache
def _sample(name: str) -> Image.Image:
    with Image.open(_skimage_data_dir() / SAMPLE_PHOTOS[name]) as opened:
        opened.load()
        image: Image.Image = opened.copy()
    return image


def photo(name: str = "astronaut", size: tuple[int, int] | None = None) -> Image.Image:
    """A real photograph (a fresh copy), optionally resized to ``size`` = ``(width, height)``.

    ``camera`` is grayscale (mode L); the others are RGB.
    """
    image = _sample(name).copy()
    if size is not None and size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def photo_strip(name: str, size: tuple[int, int]) -> Image.Image:
    """An extreme aspect ratio cut from a photo (a centre band), then scaled to ``size``."""
    image = _sample(name)
    width, height = image.size
    target_width, target_height = size
    if target_width >= target_height:
        band = max(1, round(width * target_height / target_width))
        top = (height - band) // 2
        box = (0, top, width, top + band)
    else:
        band = max(1, round(height * target_width / target_height))
        left = (width - band) // 2
        box = (left, 0, left + band, height)
    return image.crop(box).resize(size, Image.Resampling.LANCZOS)


def large_photo(size: tuple[int, int] = LARGE_PHOTO_SIZE, seed: int = 0) -> Image.Image:
    """A camera-sized RGB photo: a sample scaled up, with sensor-like grain for real detail."""
    base = np.asarray(photo("motorcycle", size), dtype=np.int16)
    rng = np.random.default_rng(seed)
    # Luminance grain, one value per pixel shared by the channels, like a sensor's.
    grain = rng.integers(-10, 11, size=(size[1], size[0], 1), dtype=np.int16)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8), "RGB")


def sixteen_bit(name: str = "camera", size: tuple[int, int] | None = None) -> Image.Image:
    """A 16-bit grayscale image (mode I;16) using the full 0..65535 range, like a scanner's."""
    gray = np.asarray(photo(name, size).convert("L"), dtype=np.uint16)
    return Image.fromarray(gray * 257)  # 255 * 257 = 65535


def write_exif_rotated_jpeg(path: Path, upright: Image.Image, orientation: int) -> Path:
    """Write ``upright`` as a camera would: pixels stored unrotated, EXIF Orientation set.

    A viewer that honours the tag (and :func:`dclip_core.runtime.images.load_image`) shows
    ``upright`` again. Supported orientations: 1, 3, 6, 8.
    """
    # The stored pixels are the inverse of what the viewer applies for the tag.
    stored_from_upright = {
        1: None,
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,
        8: Image.Transpose.ROTATE_270,
    }
    if orientation not in stored_from_upright:
        raise ValueError(f"orientation {orientation} is not one of {sorted(stored_from_upright)}")
    method = stored_from_upright[orientation]
    stored = upright.convert("RGB") if method is None else upright.convert("RGB").transpose(method)
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    stored.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def animated_gif_frames(size: tuple[int, int] = (64, 48)) -> list[Image.Image]:
    """Three frames with distinct content: frame 0 is a photo, then solid red, then solid blue."""
    return [
        photo("chelsea", size),
        Image.new("RGB", size, (255, 0, 0)),
        Image.new("RGB", size, (0, 0, 255)),
    ]


def write_animated_gif(path: Path, frames: list[Image.Image]) -> Path:
    """Write ``frames`` as a looping animated GIF."""
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return path


def write_truncated_jpeg(path: Path, keep_fraction: float = 0.5) -> Path:
    """A JPEG cut off part-way, as an interrupted copy or download leaves it."""
    full = path.with_name(path.stem + ".full.jpg")
    photo("coffee").save(full, "JPEG", quality=90)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def write_image_zoo(folder: Path, *, include_large: bool = True) -> dict[str, WrittenImage]:
    """Write one file of each format/mode/size case into ``folder``.

    Covers RGB, RGBA, L, LA, P, CMYK and I;16 (16-bit PNG); JPEG, PNG, WebP, GIF (animated), BMP and
    TIFF; sizes from 1x1 and 7x300 up to a 4000x3000 JPEG (``include_large``); EXIF orientations
    6 and 3. Every file decodes; broken files have their own writers.

    Returns:
        ``name -> WrittenImage``, names usable as test ids.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, WrittenImage] = {}

    def save(name: str, image: Image.Image, suffix: str, description: str, **options: Any) -> None:
        path = folder / f"{name}{suffix}"
        image.save(path, **options)
        width, height = image.size
        written[name] = WrittenImage(
            path, image.mode, image.size, f"{description} {width}x{height}"
        )

    coffee = photo("coffee")
    astronaut = photo("astronaut")
    save("rgb_jpeg", coffee, ".jpg", "RGB JPEG", quality=92)
    save("rgb_png", photo("chelsea"), ".png", "RGB PNG")
    save(
        "portrait_jpeg", photo_strip("rocket", (320, 427)), ".jpg", "RGB JPEG portrait", quality=92
    )
    save("rgba_png", _with_alpha(astronaut, "RGBA"), ".png", "RGBA PNG, soft alpha edge")
    save("l_png", photo("camera"), ".png", "grayscale L PNG")
    save("la_png", _with_alpha(photo("camera"), "LA"), ".png", "grayscale+alpha LA PNG")
    palette = coffee.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    save("p_png", palette, ".png", "palette P PNG, 64 colours")
    save("cmyk_jpeg", coffee.convert("CMYK"), ".jpg", "CMYK JPEG (print workflow)", quality=92)
    save("i16_png", sixteen_bit("camera"), ".png", "16-bit grayscale PNG (I;16)")
    save("webp", photo("motorcycle"), ".webp", "RGB WebP", quality=85)
    save("bmp", photo("chelsea", (200, 133)), ".bmp", "RGB BMP")
    save("tiff", photo("retina", (353, 349)), ".tif", "RGB TIFF")
    save("tiny_1x1", Image.new("RGB", (1, 1), (200, 30, 60)), ".png", "1x1 RGB PNG")
    save("strip_7x300", photo_strip("astronaut", (7, 300)), ".png", "tall strip PNG")
    save("strip_300x7", photo_strip("coffee", (300, 7)), ".png", "wide strip PNG")
    save("panorama", photo_strip("motorcycle", (1200, 150)), ".jpg", "panorama JPEG")

    for orientation in (6, 3):
        name = f"exif_orientation_{orientation}"
        path = write_exif_rotated_jpeg(folder / f"{name}.jpg", coffee, orientation)
        written[name] = WrittenImage(
            path, "RGB", coffee.size, f"JPEG, EXIF orientation {orientation}, upright 600x400"
        )

    frames = animated_gif_frames()
    gif = write_animated_gif(folder / "animated.gif", frames)
    written["animated_gif"] = WrittenImage(gif, "P", frames[0].size, "animated GIF, 3 frames 64x48")

    if include_large:
        save("large_jpeg", large_photo(), ".jpg", "camera JPEG", quality=90)
    return written


def _with_alpha(image: Image.Image, mode: str) -> Image.Image:
    """``image`` with an alpha channel that fades from opaque (left) to transparent (right)."""
    width, height = image.size
    ramp = np.linspace(255, 0, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    alpha = Image.fromarray(ramp.astype(np.uint8), "L")
    result = image.convert(mode)
    result.putalpha(alpha)
    return result
