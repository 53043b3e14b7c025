"""Open photo files defensively: EXIF orientation, first frames, reduced JPEG decoding.

Everything that decodes a user's file for a model goes through :func:`load_image`, so a photo looks
the same to indexing, search-by-example and the visualizer. Failures become
:class:`~dclip_core.errors.ImageDecodeError` with a short reason; the photo library records it and
skips the file until it changes.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from dclip_core.errors import ImageDecodeError

# Reasons start with one of these phrases, so callers can group failures without parsing details.
REASON_NOT_FOUND = "file not found"
REASON_NOT_A_FILE = "not a regular file"
REASON_PERMISSION = "permission denied"
REASON_UNREADABLE = "cannot read file"
REASON_EMPTY = "empty file"
REASON_UNKNOWN_FORMAT = "not a recognised image format"
REASON_TOO_LARGE = "too many pixels"
REASON_CORRUPT = "corrupt or truncated image data"

_HEIF_SUFFIXES = frozenset({".heic", ".heif", ".hif", ".avif"})


@functools.cache
def register_optional_formats() -> bool:
    """Let Pillow open HEIC/HEIF (phone photos) when pillow-heif is installed.

    Returns:
        Whether pillow-heif is available. Without it those files fail with a reason that says how
        to add it; nothing else changes.
    """
    if importlib.util.find_spec("pillow_heif") is None:
        return False
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return True


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image with what its header said about the original.

    Attributes:
        image: as :func:`load_image` returns it (upright, possibly reduced).
        stored_size: ``(width, height)`` of the original as stored in the file, before any
            reduced decoding and before the EXIF orientation is applied.
        exif: the file's EXIF, or None when it could not be parsed (the image is still usable).
    """

    image: Image.Image
    stored_size: tuple[int, int]
    exif: Image.Exif | None


def load_image(path: Path, *, min_side: int | None = None) -> Image.Image:
    """Decode an image file into a PIL image in its own mode, upright.

    Animated files give their first frame. The EXIF orientation is applied (and removed from the
    returned image's metadata). Pillow's decompression-bomb limit stays in force.

    Args:
        path: the image file.
        min_side: when given, large JPEGs are decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT
            scaling, much faster than decoding in full) while the short side stays >= ``min_side``.
            The model needs ~224 px; a 4000x3000 photo then decodes at 500x375.

    Returns:
        A loaded image, detached from the file (the file is closed).

    Raises:
        ImageDecodeError: with ``reason`` starting with one of the ``REASON_*`` phrases of this
            module.
    """
    return load_image_with_header(path, min_side=min_side).image


def load_image_with_header(path: Path, *, min_side: int | None = None) -> LoadedImage:
    """:func:`load_image`, plus the original's stored size and EXIF from the same opening.

    The indexer needs both the reduced pixels and the original's size and date; reading them here
    saves opening and parsing every file a second time.

    Raises:
        ImageDecodeError: as :func:`load_image`.
    """
    if min_side is not None and min_side < 1:
        raise ValueError(f"min_side must be positive, not {min_side}")
    register_optional_formats()
    path = Path(path)
    try:
        with Image.open(path) as opened:
            stored_size = opened.size  # draft() below changes it to the reduced size
            exif: Image.Exif | None
            try:
                exif = opened.getexif()
            except Exception:  # damaged EXIF costs the header facts, never the photo
                exif = None
            if min_side is not None:
                # Only JPEG implements draft(); other formats ignore it and decode in full.
                opened.draft(None, (min_side, min_side))
            opened.load()
            upright = ImageOps.exif_transpose(opened)
    except FileNotFoundError:
        raise ImageDecodeError(path, REASON_NOT_FOUND) from None
    except PermissionError:
        raise ImageDecodeError(path, REASON_PERMISSION) from None
    except IsADirectoryError:
        raise ImageDecodeError(path, REASON_NOT_A_FILE) from None
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(path, _unidentified_reason(path)) from exc
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(path, f"{REASON_TOO_LARGE}: {exc}") from exc
    except OSError as exc:
        # Pillow reports truncated and malformed data as OSError; only a failing disk or network
        # share raises OSError with an errno.
        if exc.errno is not None:
            raise ImageDecodeError(path, f"{REASON_UNREADABLE}: {exc.strerror}") from exc
        raise ImageDecodeError(path, f"{REASON_CORRUPT}: {exc}") from exc
    except ValueError as exc:
        raise ImageDecodeError(path, f"{REASON_CORRUPT}: {exc}") from exc
    except Exception as exc:
        # Hostile or broken files make Pillow's plugins raise SyntaxError, EOFError, struct.error,
        # IndexError, ...; none of them may stop a library scan, and the type is kept in the reason.
        raise ImageDecodeError(path, f"{REASON_CORRUPT}: {type(exc).__name__}: {exc}") from exc
    assert upright is not None  # exif_transpose returns None only when asked to work in place
    return LoadedImage(upright, stored_size, exif)


def _unidentified_reason(path: Path) -> str:
    """Why Pillow could not identify ``path``: empty, a HEIF without pillow-heif, or unknown."""
    try:
        if os.path.getsize(path) == 0:
            return REASON_EMPTY
    except OSError as exc:
        return f"{REASON_UNREADABLE}: {exc.strerror}"
    if path.suffix.lower() in _HEIF_SUFFIXES and not register_optional_formats():
        return (
            f"{REASON_UNKNOWN_FORMAT}: {path.suffix} needs pillow-heif "
            "(pip install 'dclip[heif]' or pip install pillow-heif)"
        )
    return REASON_UNKNOWN_FORMAT
