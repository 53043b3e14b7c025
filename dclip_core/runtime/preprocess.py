"""Image preprocessing in numpy/PIL, equal to open_clip's inference transform.

open_clip's ``image_transform(size, is_train=False, ...)`` is a torchvision pipeline on PIL
images: resize (and crop or pad) in the image's own mode, then ``convert("RGB")``, then scaling to
[0, 1] and per-channel normalisation. This module runs the same PIL operations in the same order,
with torchvision's size arithmetic, so exported models see the pixels they were trained on without
torch. Doing the mode conversion after resizing matters: a palette image is resized
nearest-neighbour, RGBA is resized premultiplied, and 16-bit images clip differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

@dataclass(frozen=True)
class ImagePreprocess:
    """Inference preprocessing, as open_clip's ``image_transform(is_train=False)`` does it."""

    size: int = 224
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    resize_mode: Literal["shortest", "longest", "squash"] = "shortest"
    interpolation: Literal["bicubic", "bilinear"] = "bicubic"

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize_mode": self.resize_mode,
            "interpolation": self.interpolation,
        }


_RESAMPLING = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
}


def preprocess_image(image: Image.Image, cfg: ImagePreprocess) -> np.ndarray:
    """Model input of one image: ``(3, size, size)`` float32, normalised by ``cfg.mean``/``std``.

    Args:
        image: a PIL image of any mode and size (at least 1x1).
        cfg: the model's preprocessing (size, mean, std, resize mode, interpolation).

    Returns:
        The CHW array open_clip's ``image_transform(cfg.size, is_train=False, ...)`` returns.
    """
    try:
        resize_to_square = _RESIZERS[cfg.resize_mode]
    except KeyError:
        raise ValueError(
            f"unknown resize mode {cfg.resize_mode!r}; expected one of {sorted(_RESIZERS)}"
        ) from None
    if cfg.interpolation not in _RESAMPLING:
        raise ValueError(
            f"unknown interpolation {cfg.interpolation!r}; expected one of {sorted(_RESAMPLING)}"
        )
    if image.width < 1 or image.height < 1:
        raise ValueError(f"cannot preprocess an image of size {image.width}x{image.height}")
    square = resize_to_square(image, cfg.size, _RESAMPLING[cfg.interpolation])
    rgb = np.asarray(square.convert("RGB"))
    table = _normalisation_table(cfg.mean, cfg.std)
    # table[c, v] is the normalised value of byte v in channel c: one gather replaces the
    # per-pixel divide/subtract/divide and gives the same float32 results.
    return table[np.arange(3)[:, None, None], rgb.transpose(2, 0, 1)]


def preprocess_batch(images: Sequence[Image.Image], cfg: ImagePreprocess) -> np.ndarray:
    """Model input of a batch: ``(len(images), 3, size, size)`` float32.

    Each row is :func:`preprocess_image` of the image at the same index.
    """
    batch = np.empty((len(images), 3, cfg.size, cfg.size), dtype=np.float32)
    for index, image in enumerate(images):
        batch[index] = preprocess_image(image, cfg)
    return batch


def load_pixels(paths: Sequence[Path], cfg: ImagePreprocess) -> np.ndarray:
    """Decode image files and preprocess them exactly as an exported bundle does at search time.

    Training and evaluation use this too (``torch.from_numpy`` of the result), so a model is trained
    and measured on the pixels it will see in the app.

    Returns:
        float32 array [N, 3, H, W].
    """
    from dclip_core.runtime.images import load_image

    images = [load_image(Path(p)).convert("RGB") for p in paths]
    return np.ascontiguousarray(preprocess_batch(images, cfg))


@lru_cache(maxsize=16)
def _normalisation_table(
    mean: tuple[float, float, float], std: tuple[float, float, float]
) -> np.ndarray:
    """``(3, 256)`` float32 ``(v / 255 - mean[c]) / std[c]``, computed in float32 as torchvision."""
    scaled = np.arange(256, dtype=np.float32) / np.float32(255)
    mean32 = np.asarray(mean, dtype=np.float32)[:, None]
    std32 = np.asarray(std, dtype=np.float32)[:, None]
    table = (scaled[None, :] - mean32) / std32
    table.flags.writeable = False
    return table


def _resize_shortest(image: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    """Short side to ``size`` (long side truncated, as torchvision does), then centre crop."""
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_long = int(size * long / short)
    new_size = (size, new_long) if width <= height else (new_long, size)
    # torchvision returns the image untouched when it already has the requested size.
    if new_size != image.size:
        image = image.resize(new_size, resample)
    return _center_crop_or_pad(image, size)


def _resize_longest(image: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    """Long side to ``size`` keeping the aspect ratio (round half to even), then pad to a square."""
    width, height = image.size
    ratio = max(width / size, height / size)
    # Python's round() is what open_clip uses; a side that would round to zero (an image over
    # ~450 times wider than tall) is kept at one pixel, where open_clip fails in PIL instead.
    new_size = (max(1, round(width / ratio)), max(1, round(height / ratio)))
    if new_size != image.size:
        image = image.resize(new_size, resample)
    return _center_crop_or_pad(image, size)


def _resize_squash(image: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    """Both sides to ``size``, ignoring the aspect ratio."""
    if image.size != (size, size):
        image = image.resize((size, size), resample)
    return image


_RESIZERS: dict[str, Callable[[Image.Image, int, Image.Resampling], Image.Image]] = {
    "shortest": _resize_shortest,
    "longest": _resize_longest,
    "squash": _resize_squash,
}


def _center_crop_or_pad(image: Image.Image, size: int) -> Image.Image:
    """A centred ``size`` x ``size`` window, zero-padding shorter sides (torchvision's rules).

    Padding puts the odd pixel on the right/bottom; the crop offset is ``round((side - size) / 2)``
    with Python's rounding (half to even), exactly as torchvision's ``center_crop`` does.
    """
    width, height = image.size
    if size > width or size > height:
        pad_x = max(size - width, 0)
        pad_y = max(size - height, 0)
        border = (pad_x // 2, pad_y // 2, (pad_x + 1) // 2, (pad_y + 1) // 2)
        bands = len(image.getbands())
        # torchvision pads with 0 per band; for a palette image that is palette index 0.
        fill: int | tuple[int, ...] = 0 if bands == 1 else (0,) * bands
        palette = image.getpalette() if image.mode == "P" else None
        image = ImageOps.expand(image, border=border, fill=fill)
        if palette is not None:
            image.putpalette(palette)
        width, height = image.size
        if (width, height) == (size, size):
            return image
    top = round((height - size) / 2.0)
    left = round((width - size) / 2.0)
    return image.crop((left, top, left + size, top + size))
