"""The records training data is read into: captioned images, their boxes, and what was skipped.

Plain dataclasses, torch-free, shared by every reader (:mod:`dclip_core.train.datasets`), the
region cache, the shapes world and the fine-tuning data check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class BoxLabel(NamedTuple):
    """A ground-truth or user-drawn box in pixels of the (EXIF-rotated) image."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str


@dataclass(frozen=True)
class CaptionedImage:
    """One training image with all its captions.

    Attributes:
        path: the image file.
        captions: non-empty, stripped captions (one is drawn per training step).
        boxes: ground-truth boxes when the source has them, else None.
        split: ``train`` / ``restval`` / ``val`` / ``test`` when the source says so.
        source: the dataset family (``coco``, ``flickr30k``, ``cc``, ``folder``, ``library``); with
            ``image_id`` it identifies the image across readers of the same family.
        image_id: the family's id of the image (COCO id, Flickr30k photo id, row number...).
    """

    path: Path
    captions: list[str]
    boxes: list[BoxLabel] | None = None
    split: str | None = None
    source: str = "folder"
    image_id: str | None = None


@dataclass(frozen=True)
class SkippedItem:
    """Something a reader left out, and why."""

    source: str
    item: str
    reason: str


@dataclass
class DatasetReport:
    """What was read, skipped, and excluded; shown to the user before training starts."""

    read: int = 0
    excluded_eval: int = 0
    skipped: list[SkippedItem] = field(default_factory=list)

    def skip(self, source: str, item: str, reason: str) -> None:
        self.skipped.append(SkippedItem(source, item, reason))

    def merge(self, other: DatasetReport) -> None:
        self.read += other.read
        self.excluded_eval += other.excluded_eval
        self.skipped.extend(other.skipped)

    def reasons(self) -> dict[str, int]:
        """How many items were skipped for each reason."""
        return dict(Counter(s.reason for s in self.skipped))

    def summary(self) -> str:
        """One line for logs and the wizard, e.g. ``1000 images; skipped 3 (missing image: 3)``."""
        parts = [f"{self.read} images"]
        if self.skipped:
            detail = ", ".join(f"{r}: {n}" for r, n in sorted(self.reasons().items()))
            parts.append(f"skipped {len(self.skipped)} ({detail})")
        if self.excluded_eval:
            parts.append(f"excluded {self.excluded_eval} Karpathy test/val images")
        return "; ".join(parts)
