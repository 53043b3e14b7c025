"""The fine-tune's verdict in plain words, from the base-vs-student table on held-out photos.

A change counts only when it is larger than what chance moves a score by on that many held-out
queries: one standard error of the difference of two proportions measured on the same ``n``
queries, ``sqrt(2·p·(1−p)/n)``, and at least one point. A model that forgot what it knew (zero-shot
retention under :data:`MIN_RETENTION`) is not recommended whatever it gained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dclip_core.finetune.evaluate import METRICS

MIN_RETENTION = 0.9
MIN_POINTS = 1.0
# What the verdict judges, most telling first: the search users type (text → image), and the
# fine-grained check where the data has one.
JUDGED = ("t2i_r1", "hard_negative_accuracy")


@dataclass(frozen=True)
class Verdict:
    """Whether to use the fine-tuned model, and the sentence that says so."""

    helped: bool
    text: str
    changes: dict[str, float]
    noise_points: dict[str, float]
    retention: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "helped": self.helped,
            "text": self.text,
            "changes_points": self.changes,
            "noise_points": self.noise_points,
            "zero_shot_retention": self.retention,
        }


def noise_points(p: float, n: int) -> float:
    """Points a score of ``p`` on ``n`` queries moves by chance (one standard error of a
    difference), at least :data:`MIN_POINTS`."""
    if n <= 0:
        return math.inf
    return max(MIN_POINTS, 100 * math.sqrt(2 * p * (1 - p) / n))


def judge(
    base: Mapping[str, float],
    student: Mapping[str, float],
    *,
    queries: Mapping[str, int],
    photos: int,
) -> Verdict:
    """The verdict on ``student`` against ``base`` (fractions per metric key).

    Args:
        queries: how many queries each judged metric was measured on.
        photos: held-out photos (named in the sentence).
    """
    names = {key: said for key, _, said in METRICS}
    changes: dict[str, float] = {}
    noise: dict[str, float] = {}
    for key in JUDGED:
        if key in base and key in student:
            changes[key] = round(100 * (student[key] - base[key]), 1)
            p = (base[key] + student[key]) / 2
            noise[key] = round(noise_points(p, queries.get(key, 0)), 1)
    retention = None
    if base.get("zero_shot_top1") and "zero_shot_top1" in student:
        retention = student["zero_shot_top1"] / base["zero_shot_top1"]
    gains = [k for k in changes if changes[k] > noise[k]]
    losses = [k for k in changes if changes[k] < -noise[k]]
    facts = [
        f"{names[k]} {changes[k]:+.1f} points"
        + ("" if abs(changes[k]) > noise[k] else f" (within chance, ±{noise[k]:.1f})")
        for k in changes
    ]
    where = f"on your {photos} held-out photos"
    kept = f", zero-shot kept {100 * retention:.0f}%" if retention is not None else ""
    measured = ", ".join(facts)
    if gains and not losses and (retention is None or retention >= MIN_RETENTION):
        return Verdict(
            True, f"{measured} {where}{kept}: use the fine-tuned model", changes, noise, retention
        )
    if gains and retention is not None and retention < MIN_RETENTION:
        text = (
            f"it forgot too much: {measured} {where}, but zero-shot kept only "
            f"{100 * retention:.0f}%: keep the current model"
        )
    elif losses:
        text = f"worse: {measured} {where}{kept}: keep the current model"
    else:
        text = f"no gain: keep the current model ({measured} {where}{kept})"
    return Verdict(False, text, changes, noise, retention)
