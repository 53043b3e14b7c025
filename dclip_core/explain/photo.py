"""The photo side of an explanation: decode, propose regions, cut crops (torch-free).

1. Decode with the library's defensive decoder (:func:`~dclip_core.runtime.images.load_image`),
   upright; a large JPEG is decoded reduced (libjpeg DCT scaling) to a short side of at least
   :data:`DECODE_MIN_SIDE` px, enough for the detector's 640 px input and for crops of small things.
2. Regions: the whole photo first, then either the bundle's detector's boxes (best first,
   clamped to the photo, at most ``max_regions`` in all), the library's region grid
   (:data:`dclip_core.library.regions.LAYOUTS`) when the bundle has no detector, or boxes the
   caller gives (a user's annotation).
3. Crops are cut exactly as the training region cache cuts them
   (:class:`dclip_core.train.regions.RegionCache`): integer corners, at least one pixel, so the
   teacher sees the region vectors it was trained on.

Boxes are reported in pixels of the full-size upright photo; the work happens on the decoded copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from dclip_core.errors import ImageDecodeError
from dclip_core.explain.errors import ExplainError
from dclip_core.explain.types import BoxXYXY, Region
from dclip_core.library.regions import LAYOUTS, WHOLE, describe_box
from dclip_core.runtime.bundle_verify import sha256_file
from dclip_core.runtime.detector import Detector
from dclip_core.runtime.images import (
    REASON_NOT_A_FILE,
    REASON_NOT_FOUND,
    REASON_PERMISSION,
    REASON_UNREADABLE,
    LoadedImage,
    load_image_with_header,
)

DECODE_MIN_SIDE = 1024
GRID_LAYOUT = "grid"
_EXIF_ORIENTATION = 0x0112
_ROTATED_ORIENTATIONS = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class DecodedPhoto:
    """A photo decoded for explaining: the RGB working copy and the full upright size."""

    path: Path
    sha256: str
    image: Image.Image
    full_size: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """Full-size pixels per working-copy pixel, ``(x, y)``."""
        return (self.full_size[0] / self.image.width, self.full_size[1] / self.image.height)


def photo_sha256(path: Path) -> str:
    """The content hash of a photo file.

    Raises:
        ExplainError: the file cannot be read (names it).
    """
    try:
        return sha256_file(Path(path))
    except FileNotFoundError:
        raise ExplainError(f"cannot explain {path}: {REASON_NOT_FOUND}; check the path") from None
    except IsADirectoryError:
        raise ExplainError(f"cannot explain {path}: {REASON_NOT_A_FILE}") from None
    except PermissionError:
        raise ExplainError(f"cannot explain {path}: {REASON_PERMISSION}") from None
    except OSError as exc:
        raise ExplainError(
            f"cannot explain {path}: {REASON_UNREADABLE}: {exc.strerror or exc}"
        ) from exc


def decode_photo(path: Path, sha256: str) -> DecodedPhoto:
    """Decode ``path`` upright as RGB (reduced when large; see the module docstring).

    Raises:
        ExplainError: the file is not a decodable image (the decoder's reason in the message).
    """
    try:
        loaded = load_image_with_header(path, min_side=DECODE_MIN_SIDE)
    except ImageDecodeError as exc:
        raise ExplainError(f"cannot explain {path}: {exc.reason}") from exc
    image = loaded.image.convert("RGB")
    return DecodedPhoto(path, sha256, image, _full_upright_size(loaded))


def _full_upright_size(loaded: LoadedImage) -> tuple[int, int]:
    """The size the photo has decoded in full and rotated upright (from the same opening)."""
    width, height = loaded.stored_size
    orientation = loaded.exif.get(_EXIF_ORIENTATION, 1) if loaded.exif is not None else 1
    if orientation in _ROTATED_ORIENTATIONS:
        width, height = height, width
    decoded = loaded.image
    # A file whose header disagrees with what decoded is measured by what decoded.
    if abs(width / decoded.width - height / decoded.height) > 0.05 * width / decoded.width:
        return decoded.size
    return width, height


@dataclass(frozen=True)
class RegionProposals:
    """Regions of a decoded photo and their crops (same order)."""

    regions: tuple[Region, ...]
    crops: tuple[Image.Image, ...]
    source: str


def whole_photo(photo: DecodedPhoto) -> Region:
    width, height = photo.full_size
    return Region((0.0, 0.0, float(width), float(height)), "photo", 1.0, "photo")


def detector_regions(photo: DecodedPhoto, detector: Detector, max_regions: int) -> RegionProposals:
    """The whole photo, then the detector's boxes, best first, ``max_regions`` in all."""
    image = photo.image
    boxes = sorted(detector.detect(image), key=lambda b: -b.conf)[: max(max_regions - 1, 0)]
    working: list[BoxXYXY] = [(0.0, 0.0, float(image.width), float(image.height))]
    regions = [whole_photo(photo)]
    sx, sy = photo.scale
    for b in boxes:
        x1, y1, x2, y2 = _clamped((b.x1, b.y1, b.x2, b.y2), image.size)
        working.append((x1, y1, x2, y2))
        regions.append(Region((x1 * sx, y1 * sy, x2 * sx, y2 * sy), b.label, b.conf, "detection"))
    return RegionProposals(
        tuple(regions), tuple(cut(image, box) for box in working), f"detector:{detector.name}"
    )


def grid_regions(photo: DecodedPhoto) -> RegionProposals:
    """The whole photo and the library's region grid (the bundle has no detector)."""
    image = photo.image
    width, height = photo.full_size
    regions = [whole_photo(photo)]
    crops = [cut(image, (0.0, 0.0, float(image.width), float(image.height)))]
    for left, top, right, bottom in LAYOUTS[GRID_LAYOUT]:
        if (left, top, right, bottom) == WHOLE:
            continue
        regions.append(
            Region(
                (left * width, top * height, right * width, bottom * height),
                describe_box((left, top, right, bottom)),
                1.0,
                "grid",
            )
        )
        crops.append(
            cut(
                image,
                (
                    left * image.width,
                    top * image.height,
                    right * image.width,
                    bottom * image.height,
                ),
            )
        )
    return RegionProposals(tuple(regions), tuple(crops), GRID_LAYOUT)


def given_regions(photo: DecodedPhoto, boxes: Sequence[tuple[BoxXYXY, str]]) -> RegionProposals:
    """The whole photo and the caller's ``(box in full-size pixels, label)`` pairs, in order."""
    image = photo.image
    sx, sy = photo.scale
    regions = [whole_photo(photo)]
    crops = [cut(image, (0.0, 0.0, float(image.width), float(image.height)))]
    for box, label in boxes:
        x1, y1, x2, y2 = _clamped(box, photo.full_size)
        if x2 <= x1 or y2 <= y1:
            raise ExplainError(f"box {box} of {label!r} is empty inside the photo; draw it again")
        regions.append(Region((x1, y1, x2, y2), label, 1.0, "given"))
        crops.append(cut(image, (x1 / sx, y1 / sy, x2 / sx, y2 / sy)))
    return RegionProposals(tuple(regions), tuple(crops), "given")


def _clamped(box: BoxXYXY, size: tuple[int, int]) -> BoxXYXY:
    """Corners inside the image and in order (as the training region cache clamps them)."""
    width, height = size
    x1, x2 = sorted((min(max(box[0], 0.0), width), min(max(box[2], 0.0), width)))
    y1, y2 = sorted((min(max(box[1], 0.0), height), min(max(box[3], 0.0), height)))
    return float(x1), float(y1), float(x2), float(y2)


def cut(image: Image.Image, box: BoxXYXY) -> Image.Image:
    """The crop the training region cache takes for ``box``: integer corners, >= 1 pixel."""
    x1, y1 = int(box[0]), int(box[1])
    return image.crop((x1, y1, max(int(box[2] + 0.5), x1 + 1), max(int(box[3] + 0.5), y1 + 1)))
