"""Evaluation tasks: image-text retrieval on captioned images, zero-shot on class folders.

Zero-shot follows the paper's protocol by default — a single prompt ``"a photo of a {}"`` and
the folder name as the class name (underscores read as spaces) — and can ensemble several
templates (mean of their normalised text embeddings, re-normalised), as CLIP's paper does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from dclip_core.errors import DatasetError
from dclip_core.eval.embedders import Embedder
from dclip_core.eval.metrics import (
    ClassificationMetrics,
    RetrievalMetrics,
    retrieval_metrics,
    topk_accuracy,
)

PAPER_TEMPLATES: tuple[str, ...] = ("a photo of a {}",)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


class CaptionedImages(Protocol):
    @property
    def path(self) -> Path: ...

    @property
    def captions(self) -> Sequence[str]: ...


def evaluate_retrieval(embedder: Embedder, records: Sequence[CaptionedImages]) -> RetrievalMetrics:
    """Retrieval metrics of ``embedder`` on ``records`` (every caption of every image).

    Raises:
        DatasetError: no captioned image to evaluate on.
    """
    records = [r for r in records if r.captions]
    if not records:
        raise DatasetError("no captioned image to evaluate retrieval on")
    captions = [c for r in records for c in r.captions]
    caption_image = np.repeat(np.arange(len(records)), [len(r.captions) for r in records])
    images = embedder.embed_images([r.path for r in records])
    texts = embedder.embed_texts(captions)
    return retrieval_metrics(images @ texts.T, caption_image)


@dataclass(frozen=True)
class ClassFolderDataset:
    """``root/<class>/<image>`` — one folder per class, as ImageNet/CIFAR exports look."""

    root: Path
    class_names: list[str]
    samples: list[tuple[Path, int]]

    @classmethod
    def read(cls, root: Path, max_per_class: int | None = None) -> ClassFolderDataset:
        """Read the folder; hidden entries and non-images are ignored.

        Raises:
            DatasetError: not a folder, or fewer than two classes with images.
        """
        if not root.is_dir():
            raise DatasetError(f"zero-shot dataset {root} is not a folder of class folders")
        names: list[str] = []
        samples: list[tuple[Path, int]] = []
        for folder in sorted(
            p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            files = sorted(
                f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
            )[:max_per_class]
            if not files:
                continue
            label = len(names)
            names.append(folder.name.replace("_", " "))
            samples.extend((f, label) for f in files)
        if len(names) < 2:
            raise DatasetError(
                f"zero-shot dataset {root} needs at least two class folders with images "
                f"(found {len(names)})"
            )
        return cls(root=root, class_names=names, samples=samples)


def class_embeddings(
    embedder: Embedder, class_names: Sequence[str], templates: Sequence[str]
) -> np.ndarray:
    """[C, D] normalised class embeddings, averaged over ``templates``."""
    prompts = [t.format(name) for name in class_names for t in templates]
    text = embedder.embed_texts(prompts).reshape(len(class_names), len(templates), -1)
    mean = text.mean(axis=1)
    return mean / np.linalg.norm(mean, axis=1, keepdims=True).clip(min=1e-12)


def evaluate_zero_shot(
    embedder: Embedder,
    dataset: ClassFolderDataset,
    templates: Sequence[str] = PAPER_TEMPLATES,
) -> ClassificationMetrics:
    """Top-1/top-5 zero-shot accuracy of ``embedder`` on a class-folder dataset."""
    classes = class_embeddings(embedder, dataset.class_names, templates)
    images = embedder.embed_images([p for p, _ in dataset.samples])
    return topk_accuracy(images @ classes.T, [label for _, label in dataset.samples])
