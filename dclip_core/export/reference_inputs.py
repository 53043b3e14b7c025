"""A fixed, seeded set of images and texts to check exported towers against.

The exporter compares ONNX outputs with torch's on these (parity), and quantised variants with
fp32 (quality). They are generated, not shipped: a dozen pictures with gradients, shapes, stripes
and noise at several sizes and aspect ratios, and captions of varied length and wording, so every
export of the same model is measured on exactly the same inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dclip_core.runtime.preprocess import ImagePreprocess, preprocess_batch
from dclip_core.runtime.tokenizer import ClipTokenizer

REFERENCE_SEED = 20250527

REFERENCE_TEXTS: tuple[str, ...] = (
    "a photo of a dog",
    "a red car parked on a narrow street in the rain",
    "two children playing football on a beach at sunset",
    "a bowl of fruit: apples, bananas and grapes on a wooden table",
    "an aerial view of a city at night",
    "close-up of a cat's face",
    "a snowy mountain reflected in a calm lake",
    "people waiting at a train station",
    "a plate of spaghetti with tomato sauce",
    "the interior of an empty church",
    "a black and white portrait of an old man smiling",
    "a cyclist riding past a yellow wall",
    "flowers",
    "a diagram with arrows and text",
    "a very long caption " + "that keeps going and going " * 12 + "until it is cut off",
    "",
)

_SIZES: tuple[tuple[int, int], ...] = (
    (320, 240),
    (240, 320),
    (500, 500),
    (96, 64),
    (1024, 300),
    (300, 1024),
)


def reference_images(count: int = 12) -> list[Image.Image]:
    """Deterministic RGB test pictures of varied content and shape."""
    rng = np.random.default_rng(REFERENCE_SEED)
    images = []
    for index in range(count):
        width, height = _SIZES[index % len(_SIZES)]
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        start, end = rng.uniform(0, 255, size=(2, 3))
        ramp = (xx / width + yy / height)[..., None] / 2
        pixels = start + (end - start) * ramp
        if index % 3 == 1:
            pixels += rng.normal(0, 25, size=pixels.shape)
        if index % 3 == 2:
            pixels[(xx.astype(int) // 12) % 2 == 0] *= 0.5
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(1, 5))):
            x0, x1 = sorted(rng.integers(0, width, 2).tolist())
            y0, y1 = sorted(rng.integers(0, height, 2).tolist())
            fill = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x0, y0, x1 + 1, y1 + 1), fill=fill)
        images.append(image)
    return images


def reference_pixels(preprocess: ImagePreprocess, count: int = 12) -> np.ndarray:
    """The reference images preprocessed for a model: ``(count, 3, S, S)`` float32."""
    return preprocess_batch(reference_images(count), preprocess)


def reference_token_ids(vocab_path: Path, context_length: int) -> np.ndarray:
    """The reference texts tokenised: ``(len(REFERENCE_TEXTS), context_length)`` int64."""
    return ClipTokenizer(vocab_path, context_length)(list(REFERENCE_TEXTS))


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b``."""
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    return np.asarray((a64 * b64).sum(axis=1) / np.maximum(norms, 1e-12))
