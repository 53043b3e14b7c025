"""Real photos in every supported format and a corpus of broken and hostile files (library tests).

The photos are scikit-image's bundled sample images (real camera pictures, shipped inside the
package, no download), re-encoded as JPEG (with EXIF date and orientation), PNG (RGBA, 16-bit,
palette), WebP, animated GIF, BMP, multi-page TIFF and HEIC/AVIF.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

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

    def save(name: str, image: Image.Image, **kwargs: object) -> None:
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
