"""Base vs student on the held-out photos: retrieval both ways, hard negatives where the data has
them (shapes folders), zero-shot retention when a class-folder set is given.

Every number goes through :mod:`dclip_core.eval` (and, for hard negatives, the shapes world's own
definition: the true caption written in its hard negative's style must score above it), so the
fine-tune's report and ``dclip eval`` / ``dclip bench shapes`` measure the same things.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dclip_core.eval.embedders import Embedder
from dclip_core.eval.tasks import ClassFolderDataset, evaluate_retrieval, evaluate_zero_shot
from dclip_core.shapes.scenes import describe
from dclip_core.shapes.world import scenes_by_file
from dclip_core.train.datasets import CaptionedImage

# (key, label, what the verdict calls it); all are fractions in [0, 1].
METRICS: tuple[tuple[str, str, str], ...] = (
    ("t2i_r1", "text→image R@1", "text→image R@1"),
    ("t2i_r5", "text→image R@5", "text→image R@5"),
    ("i2t_r1", "image→text R@1", "image→text R@1"),
    ("i2t_r5", "image→text R@5", "image→text R@5"),
    ("hard_negative_accuracy", "hard-negative accuracy", "hard-negative accuracy"),
    ("zero_shot_top1", "zero-shot top-1", "zero-shot top-1"),
)


@dataclass(frozen=True)
class HardNegatives:
    """Held-out photos whose caption has a known one-binding-swapped twin."""

    images: list[Path]
    truths: list[str]
    negatives: list[str]


def hard_negatives_of(records: Sequence[CaptionedImage]) -> HardNegatives | None:
    """The hard negatives of the held-out photos that come from shapes folders, if any."""
    images: list[Path] = []
    truths: list[str] = []
    negatives: list[str] = []
    folders: dict[Path, dict[str, Any]] = {}
    for record in records:
        folder = record.path.parent
        if folder not in folders:
            folders[folder] = scenes_by_file(folder)
        scene = folders[folder].get(record.path.name)
        if scene is not None and scene.hard_negative:
            images.append(record.path)
            truths.append(describe(scene.objects, style=0))
            negatives.append(scene.hard_negative)
    return HardNegatives(images, truths, negatives) if images else None


def hard_negative_accuracy(embedder: Embedder, probe: HardNegatives) -> float:
    """Share of photos whose true caption scores above its hard negative."""
    images = embedder.embed_images(probe.images)
    truth = embedder.embed_texts(probe.truths)
    negatives = embedder.embed_texts(probe.negatives)
    return float(np.mean((images * truth).sum(1) > (images * negatives).sum(1)))


@dataclass(frozen=True)
class HeldOutSet:
    """What both models are measured on."""

    records: list[CaptionedImage]
    hard_negatives: HardNegatives | None
    zero_shot: ClassFolderDataset | None
    zero_shot_template: str

    @property
    def queries(self) -> int:
        return sum(len(r.captions) for r in self.records)


def score(embedder: Embedder, held_out: HeldOutSet) -> dict[str, float]:
    """Every metric of :data:`METRICS` this held-out set allows, as fractions."""
    retrieval = evaluate_retrieval(embedder, held_out.records)
    scores = {
        "t2i_r1": retrieval.text_to_image.recall_at_1,
        "t2i_r5": retrieval.text_to_image.recall_at_5,
        "i2t_r1": retrieval.image_to_text.recall_at_1,
        "i2t_r5": retrieval.image_to_text.recall_at_5,
    }
    if held_out.hard_negatives is not None:
        scores["hard_negative_accuracy"] = hard_negative_accuracy(embedder, held_out.hard_negatives)
    if held_out.zero_shot is not None:
        scores["zero_shot_top1"] = evaluate_zero_shot(
            embedder, held_out.zero_shot, (held_out.zero_shot_template,)
        ).top1
    return {k: round(float(v), 6) for k, v in scores.items()}


def comparison_rows(base: dict[str, float], student: dict[str, float]) -> list[dict[str, Any]]:
    """The eval table: one row per metric, in percent, with the change in points."""
    rows = []
    for key, label, _ in METRICS:
        if key in base and key in student:
            rows.append(
                {
                    "metric": key,
                    "label": label,
                    "base": round(100 * base[key], 2),
                    "student": round(100 * student[key], 2),
                    "change_points": round(100 * (student[key] - base[key]), 2),
                }
            )
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The eval table as markdown."""
    lines = ["| metric | base | fine-tuned | change |", "|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['label']} | {row['base']:.1f} | {row['student']:.1f} | "
            f"{row['change_points']:+.1f} |"
        )
    return "\n".join(lines)
