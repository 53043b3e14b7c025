"""Every picture the tests use, in one place.

- Realistic photos: scikit-image's bundled samples (real photographs shipped inside its wheel, so no
  download): textures, skin, sky and sharp edges exercise resampling the way a user's photos do.
  Derived images (other sizes, modes and aspect ratios) are resized or cropped from them.
- Writers of image files in every format and mode a library meets (:func:`write_image_zoo`).
- The library's corpus: real photos re-encoded in every supported format, with EXIF date and
  orientation (:func:`write_real_photos`), and broken and hostile files
  (:func:`write_hostile_files`).
- Drawn photos: a flat shape on a plain background (:func:`draw_photo`), and the app tests' small
  library of them in two folders with spread dates (:func:`write_photo_library`).

Typical use::

    zoo = write_image_zoo(tmp_path)              # name -> WrittenImage
    write_exif_rotated_jpeg(path, photo("coffee"), orientation=6)
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from skimage import data as skdata

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


# --- the library's corpus: real photos in every format, broken and hostile files ----------------

USABLE = "usable"
PHOTO_SOURCES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
)


def sample_photo(name: str) -> Image.Image:
    """A real RGB photo from scikit-image's bundled data."""
    return Image.fromarray(getattr(skdata, name)()).convert("RGB")


def exif_bytes(date: str | None = None, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if date is not None:
        exif.get_ifd(0x8769)[0x9003] = date
    return exif.tobytes()


def write_real_photos(folder: Path) -> dict[str, Path]:
    """Write a dozen real photos in varied formats; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    astronaut, chelsea, coffee = (sample_photo(n) for n in ("astronaut", "chelsea", "coffee"))
    rocket, hubble = sample_photo("rocket"), sample_photo("hubble_deep_field")
    ihc = sample_photo("immunohistochemistry")

    def save(name: str, image: Image.Image, **kwargs: Any) -> None:
        path = folder / name
        image.save(path, **kwargs)
        out[name] = path

    save("astronaut.jpg", astronaut, quality=90, exif=exif_bytes("2021:06:01 10:00:00"))
    save("chelsea.png", chelsea)
    save("coffee.webp", coffee, quality=85)
    save("rocket.bmp", rocket)
    save("hubble.tiff", hubble, save_all=True, append_images=[rocket.resize(hubble.size)])
    # Stored sideways with EXIF orientation 6: upright it is portrait.
    save(
        "sideways.jpg",
        coffee.transpose(Image.Transpose.ROTATE_90),
        exif=exif_bytes("2019:12:24 18:30:00", orientation=6),
    )
    save("ihc-rgba.png", ihc.convert("RGBA"))
    save("chelsea-palette.png", chelsea.convert("P", palette=Image.Palette.ADAPTIVE))
    save("camera-16bit.png", Image.fromarray(skdata.camera().astype(np.uint16) * 257))
    frames = [astronaut.resize((128, 128)), chelsea.resize((128, 128))]
    save("animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
    save("café ☕.jpg", chelsea, quality=80)
    save("large-camera.jpg", rocket.resize((4000, 3000)), quality=85)
    save("png-named.jpg", coffee, format="PNG")
    save("cmyk.jpg", astronaut.convert("CMYK"), quality=85)
    # Small: HEIF/AVIF encoders are slow and the point is the container, not the size.
    save("heic-photo.heic", coffee.resize((150, 100)))
    save("avif-photo.avif", chelsea.resize((150, 100)))
    return out


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    """A tiny PNG whose header claims billions of pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_bytes(image: Image.Image, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_hostile_files(folder: Path) -> dict[str, str]:
    """Write broken and hostile files; returns name -> expected failure code.

    :data:`USABLE` marks damaged-looking files that must still be indexed (e.g. broken EXIF).
    Root reads files whatever their mode, so the permission case is only a failure for others.
    """
    folder.mkdir(parents=True, exist_ok=True)
    # Not one of the photos of write_real_photos, so that usable files here are distinct images.
    photo = sample_photo("colorwheel")
    jpeg = _jpeg_bytes(photo, quality=90)
    png = _png_bytes(photo.resize((256, 256)))
    expected: dict[str, str] = {}

    def put(name: str, content: bytes, code: str) -> None:
        (folder / name).write_bytes(content)
        expected[name] = code

    put("zero.jpg", b"", "zero-bytes")
    put("zero.png", b"", "zero-bytes")
    put("truncated-half.jpg", jpeg[: len(jpeg) // 2], "truncated")
    put("truncated-header.jpg", jpeg[:200], "truncated")
    put("truncated.png", png[: len(png) // 3], "truncated")
    put("text.jpg", b"this is a shopping list, not a photo\n" * 20, "not-an-image")
    put("html.webp", b"<!doctype html><html><body>404</body></html>", "not-an-image")
    put("random.png", np.random.default_rng(0).bytes(5000), "not-an-image")
    put("random.gif", np.random.default_rng(1).bytes(3000), "not-an-image")
    put("elf.tiff", b"\x7fELF\x02\x01\x01" + bytes(400), "not-an-image")
    put("zip.bmp", b"PK\x03\x04" + bytes(300), "not-an-image")
    put("bomb.png", bomb_png(), "decompression-bomb")
    put(
        "bomb-gif.gif",
        b"GIF89a" + struct.pack("<HH", 65000, 65000) + b"\x00\x00\x00;",
        "not-an-image",
    )
    bad_crc = bytearray(png)
    bad_crc[40] ^= 0xFF  # inside IHDR/IDAT: CRC no longer matches
    put("bad-crc.png", bytes(bad_crc), "not-an-image")
    put("gif-header-only.gif", b"GIF89a", "not-an-image")
    put(
        "bmp-absurd.bmp",
        b"BM"
        + struct.pack("<IHHI", 100, 0, 0, 54)
        + struct.pack("<IiiHHIIiiII", 40, 200000, 200000, 1, 24, 0, 0, 0, 0, 0, 0),
        "decompression-bomb",
    )
    put("tiff-garbage.tif", b"II*\x00" + struct.pack("<I", 8) + b"\xff" * 64, "not-an-image")
    put("webp-truncated.webp", (lambda b: b[: len(b) // 2])(_webp_bytes(photo)), "truncated")
    corrupt_middle = bytearray(jpeg)
    for i in range(len(corrupt_middle) // 2, len(corrupt_middle) // 2 + 400):
        corrupt_middle[i] = 0xFF
    put("corrupt-middle.jpg", bytes(corrupt_middle), "truncated")
    bad_exif = photo.copy()
    put(
        "bad-exif.jpg",
        _jpeg_bytes(bad_exif, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff"),
        USABLE,
    )
    # Not regular files.
    os.mkfifo(folder / "pipe.jpg")
    expected["pipe.jpg"] = "zero-bytes"
    os.symlink("/dev/zero", folder / "devzero.jpg")
    expected["devzero.jpg"] = "zero-bytes"
    (folder / "folder.jpg").mkdir()
    # A valid photo whose name is not valid UTF-8.
    bad_name = os.fsdecode(os.fsencode(str(folder)) + b"/bad-name-\xff\xfe.jpg")
    Path(bad_name).write_bytes(jpeg)
    expected[Path(bad_name).name] = "bad-name"
    # Unreadable for everyone but root.
    locked = folder / "locked.jpg"
    locked.write_bytes(jpeg)
    locked.chmod(0)
    expected["locked.jpg"] = USABLE if os.geteuid() == 0 else "permission-denied"
    # A symlink loop and a dangling link must not stop the scan.
    os.symlink(folder, folder / "loop")
    os.symlink(folder / "does-not-exist.jpg", folder / "dangling.jpg")
    return expected


def _webp_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=80)
    return buffer.getvalue()


# --- drawn photos ---------------------------------------------------------------------------------

# (folder, name, colour, shape, year the photo was "taken")
PHOTOS = [
    ("beach", "sunny", (240, 200, 80), "circle", 2020),
    ("beach", "sea", (40, 110, 220), "rect", 2020),
    ("beach", "sand", (230, 210, 160), "rect", 2021),
    ("beach", "sunset", (250, 120, 40), "circle", 2021),
    ("forest", "pines", (20, 110, 40), "triangle", 2023),
    ("forest", "moss", (80, 160, 60), "circle", 2023),
    ("forest", "bark", (110, 70, 40), "rect", 2024),
    ("forest", "fern", (60, 190, 90), "triangle", 2024),
]


def draw_photo(path: Path, colour: tuple[int, int, int], shape: str, size: int = 96) -> None:
    """A JPEG of one flat ``circle``, ``triangle`` or ``rect`` on light grey."""
    image = Image.new("RGB", (size, size * 3 // 4), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    box = (12, 8, size - 12, size * 3 // 4 - 8)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(box[0], box[3]), (box[2], box[3]), (size // 2, box[1])], fill=colour)
    else:
        draw.rectangle(box, fill=colour)
    image.save(path, quality=90)


def write_photo_library(root: Path) -> Path:
    """Eight small JPEGs in two folders, with file dates spread over 2020–2024."""
    for folder, name, colour, shape, year in PHOTOS:
        target = root / folder / f"{name}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        draw_photo(target, colour, shape)
        stamp = datetime(year, 6, 1, 12, 0).timestamp()
        os.utime(target, (stamp, stamp))
    return root
