"""Defensive image decoding for the indexer: every file yields pixels or a recorded reason.

:func:`decode_for_index` never raises for anything a file contains or does: it returns a
:class:`DecodedImage` or a :class:`DecodeFailure` whose ``code`` is one of :data:`FAILURE_CODES`.
Pixels come from :func:`dclip_core.runtime.images.load_image_with_header` (EXIF orientation
applied, first frame of animations, JPEG draft decoding to the size the model needs); this module
adds the checks around it, the pixel size of the original and the date taken (from that same
opening of the file: nothing is read twice) and the thumbnail (from the reduced pixels).
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image

from dclip_core.errors import ImageDecodeError
from dclip_core.runtime import images
from dclip_core.runtime.images import (
    LoadedImage,
    load_image_with_header,
    register_optional_formats,
)

# code -> what `dclip status` says about it
FAILURE_CODES: dict[str, str] = {
    "zero-bytes": "empty file (0 bytes)",
    "truncated": "file is truncated or its image data is damaged",
    "not-an-image": "not an image (content is not a known image format)",
    "decompression-bomb": "too many pixels (possible decompression bomb)",
    "permission-denied": "permission denied",
    "needs-heif": "HEIC/HEIF/AVIF needs the heif extra (pip install 'dclip[heif]')",
    "bad-name": "file name is not valid text in the system encoding",
    "vanished": "file vanished before it could be read",
    "unreadable": "file cannot be read",
}

HEIF_SUFFIXES = frozenset({".heic", ".heif", ".hif", ".avif"})
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_ORIENTATION = 0x0112

# Pillow warns (rather than fails) about damaged EXIF and about images between 89 and 179
# megapixels; the decoder records what matters, and a warning per file would flood the terminal.
# Filters are process-wide (catch_warnings is not thread-safe), so they are narrow.
warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@dataclass(frozen=True)
class DecodeFailure:
    code: str
    message: str


@dataclass
class DecodedImage:
    """An image ready for the model: RGB pixels (possibly reduced) and facts about the original."""

    image: Image.Image
    width: int
    height: int
    taken_at: str
    taken_source: str  # "exif" or "mtime"


def _iso_from_exif(value: object) -> str | None:
    """``2023:07:14 18:02:11`` -> ``2023-07-14T18:02:11``; None for anything else."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").isoformat()
    except ValueError:
        return None


def iso_from_mtime(mtime_ns: int) -> str:
    """Local wall-clock time of a modification time, like EXIF dates are written."""
    return datetime.fromtimestamp(mtime_ns / 1e9).replace(microsecond=0).isoformat()


def header_facts(loaded: LoadedImage) -> tuple[int, int, str | None]:
    """Original pixel size (as the user sees it) and EXIF DateTimeOriginal, from the header."""
    width, height = loaded.stored_size
    taken = None
    orientation = 1
    if loaded.exif is not None:
        try:
            taken = _iso_from_exif(loaded.exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL))
            orientation = int(loaded.exif.get(_ORIENTATION, 1))
        except (OSError, ValueError, SyntaxError, KeyError, TypeError):
            pass  # damaged EXIF costs the date (the file time is used), never the photo
    if orientation in (5, 6, 7, 8):  # stored sideways
        width, height = height, width
    return width, height, taken


# load_image's reason phrases -> our failure codes (checked in order, by prefix).
_REASON_CODES = (
    (images.REASON_EMPTY, "zero-bytes"),
    (images.REASON_NOT_FOUND, "vanished"),
    (images.REASON_PERMISSION, "permission-denied"),
    (images.REASON_TOO_LARGE, "decompression-bomb"),
    (images.REASON_UNKNOWN_FORMAT, "not-an-image"),
    (images.REASON_CORRUPT, "truncated"),
    (images.REASON_NOT_A_FILE, "unreadable"),
    (images.REASON_UNREADABLE, "unreadable"),
)


def failure_from_reason(reason: str) -> DecodeFailure:
    """Turn :func:`load_image`'s reason into a recorded failure (code + readable message)."""
    code = "unreadable"
    for prefix, candidate in _REASON_CODES:
        if reason.startswith(prefix):
            code = candidate
            break
    if code == "not-an-image" and "pillow-heif" in reason:
        code = "needs-heif"
    message = FAILURE_CODES[code]
    detail = reason.split(":", 1)[1].strip() if ":" in reason else ""
    if detail and code not in ("needs-heif", "zero-bytes"):
        message = f"{message} ({detail})"
    return DecodeFailure(code, message[:500])


def decode_for_index(
    path: str, *, size: int, mtime_ns: int, path_ok: bool = True, min_side: int = 224
) -> DecodedImage | DecodeFailure:
    """Decode one file for indexing; never raises for anything the file contains.

    Args:
        path: the file (as found by the scanner).
        size: its size in bytes from the scan (0 is recorded without opening the file).
        mtime_ns: its modification time, the date taken when EXIF has none.
        path_ok: False when the name could not be represented as text.
        min_side: shortest side the caller needs (model input or thumbnail, the larger).

    Returns:
        The decoded RGB image with facts about the original, or the reason it cannot be used.
    """
    if not path_ok:
        return DecodeFailure("bad-name", FAILURE_CODES["bad-name"])
    if size == 0:
        return DecodeFailure("zero-bytes", FAILURE_CODES["zero-bytes"])
    if os.path.splitext(path)[1].lower() in HEIF_SUFFIXES and not register_optional_formats():
        return DecodeFailure("needs-heif", FAILURE_CODES["needs-heif"])
    try:
        loaded = load_image_with_header(Path(path), min_side=min_side)
        image = loaded.image
        if image.mode != "RGB":
            image = image.convert("RGB")
    except ImageDecodeError as exc:
        return failure_from_reason(exc.reason)
    except MemoryError:
        return DecodeFailure("decompression-bomb", FAILURE_CODES["decompression-bomb"])
    if loaded.exif is None:
        # Unparsable EXIF: only the header facts are lost; the reduced size is a lower bound.
        width, height, taken = image.width, image.height, None
    else:
        width, height, taken = header_facts(loaded)
    if taken is None:
        return DecodedImage(image, width, height, iso_from_mtime(mtime_ns), "mtime")
    return DecodedImage(image, width, height, taken, "exif")


def thumbnail_file(thumbnails_dir: Path, content_hash: str, size: int) -> Path:
    """Where the thumbnail of a content hash lives (shared by moved and duplicated files)."""
    return thumbnails_dir / content_hash[:2] / f"{content_hash}-{size}.jpg"


def write_thumbnail(image: Image.Image, target: Path, size: int) -> None:
    """Save a JPEG thumbnail with longest side ``size``; a killed process never leaves half a file.

    Temporary file + rename, without fsync: thumbnails are a cache, so surviving a process kill is
    enough, and an fsync per photo would slow indexing down.
    """
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.convert("RGB").save(buffer, format="JPEG", quality=85)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
