"""Retrieval and classification metrics (numpy only).

Retrieval follows the standard image-text protocol with several captions per image:

- text→image: every caption is a query with exactly one relevant image.
- image→text: every image is a query; all of its captions are relevant. Recall@K and the
  reciprocal rank use the best-ranked relevant caption; mAP averages precision over all of them.

The paper's "MAP" is the mean reciprocal rank of the first relevant item, so both MRR and true mAP
are reported. For text→image, with one relevant item per query, the two coincide.
Ties are counted against the query: an irrelevant item scoring as high as a relevant one ranks
before it, so a model that scores everything equal gets the worst rank, never the best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

RECALL_KS = (1, 5, 10)


@dataclass(frozen=True)
class DirectionMetrics:
    """Metrics of one retrieval direction, as fractions in [0, 1]."""

    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr: float
    map: float
    queries: int


@dataclass(frozen=True)
class RetrievalMetrics:
    """Both directions of image-text retrieval."""

    text_to_image: DirectionMetrics
    image_to_text: DirectionMetrics

    def to_json(self) -> dict[str, dict[str, float]]:
        return {
            "text_to_image": asdict(self.text_to_image),
            "image_to_text": asdict(self.image_to_text),
        }


def _direction(ranks_best: np.ndarray, ap: np.ndarray) -> DirectionMetrics:
    recalls = {k: float(np.mean(ranks_best <= k)) if ranks_best.size else 0.0 for k in RECALL_KS}
    return DirectionMetrics(
        recall_at_1=recalls[1],
        recall_at_5=recalls[5],
        recall_at_10=recalls[10],
        mrr=float(np.mean(1.0 / ranks_best)) if ranks_best.size else 0.0,
        map=float(np.mean(ap)) if ap.size else 0.0,
        queries=int(ranks_best.size),
    )


def text_to_image_ranks(
    similarity: np.ndarray, caption_image: np.ndarray, chunk: int = 2048
) -> np.ndarray:
    """Rank (1 = best) of each caption's image among all images.

    Args:
        similarity: [N_images, N_captions] scores, higher is better.
        caption_image: [N_captions] index of the image each caption belongs to.
        chunk: captions handled at once, to bound memory on 5K x 25K matrices.
    """
    n_captions = similarity.shape[1]
    ranks = np.empty(n_captions, dtype=np.int64)
    for start in range(0, n_captions, chunk):
        block = similarity[:, start : start + chunk]
        gt = block[caption_image[start : start + chunk], np.arange(block.shape[1])]
        ranks[start : start + chunk] = (block >= gt[None, :]).sum(axis=0)
    return ranks


def image_to_text_ranks(
    similarity: np.ndarray, caption_image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Best rank of a relevant caption and average precision, per image that has captions.

    Returns:
        ``(best_ranks, average_precisions)``, one entry per image with at least one caption, in
        image order.
    """
    n_images = similarity.shape[0]
    captions_of: list[list[int]] = [[] for _ in range(n_images)]
    for caption, image in enumerate(caption_image.tolist()):
        captions_of[image].append(caption)
    best: list[int] = []
    average_precisions: list[float] = []
    for image in range(n_images):
        relevant = captions_of[image]
        if not relevant:
            continue
        row = similarity[image]
        is_relevant = np.zeros(row.size, dtype=bool)
        is_relevant[relevant] = True
        irrelevant = np.sort(row[~is_relevant])
        relevant_scores = np.sort(row[is_relevant])[::-1]
        # j-th best relevant caption: j, plus every irrelevant caption scoring at least as high
        ranks = np.arange(1, len(relevant) + 1) + (
            irrelevant.size - np.searchsorted(irrelevant, relevant_scores, side="left")
        )
        best.append(int(ranks[0]))
        hits = np.arange(1, len(ranks) + 1)
        average_precisions.append(float(np.mean(hits / ranks)))
    return np.asarray(best, dtype=np.int64), np.asarray(average_precisions, dtype=np.float64)


def retrieval_metrics(
    similarity: np.ndarray, caption_image: Sequence[int] | np.ndarray
) -> RetrievalMetrics:
    """Recall@1/5/10, MRR and mAP in both directions.

    Args:
        similarity: [N_images, N_captions] image-caption scores (e.g. cosine similarities).
        caption_image: for each caption, the index of its image.
    """
    caption_image = np.asarray(caption_image, dtype=np.int64)
    similarity = np.asarray(similarity)
    if similarity.ndim != 2 or similarity.shape[1] != caption_image.size:
        raise ValueError(
            f"similarity {similarity.shape} does not match {caption_image.size} captions"
        )
    t2i = text_to_image_ranks(similarity, caption_image)
    i2t_best, i2t_ap = image_to_text_ranks(similarity, caption_image)
    return RetrievalMetrics(
        text_to_image=_direction(t2i, 1.0 / t2i),
        image_to_text=_direction(i2t_best, i2t_ap),
    )


@dataclass(frozen=True)
class ClassificationMetrics:
    """Zero-shot classification accuracy, as fractions in [0, 1]."""

    top1: float
    top5: float
    samples: int
    classes: int


def topk_accuracy(logits: np.ndarray, labels: Sequence[int] | np.ndarray) -> ClassificationMetrics:
    """Top-1 and top-5 accuracy of ``logits`` [N, C] against integer ``labels`` [N].

    Ties are counted against the sample, as in retrieval.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if logits.shape[0] != labels.size:
        raise ValueError(f"{logits.shape[0]} predictions for {labels.size} labels")
    correct = logits[np.arange(labels.size), labels]
    ranks = (logits >= correct[:, None]).sum(axis=1)
    return ClassificationMetrics(
        top1=float(np.mean(ranks <= 1)) if labels.size else 0.0,
        top5=float(np.mean(ranks <= 5)) if labels.size else 0.0,
        samples=int(labels.size),
        classes=int(logits.shape[1]),
    )
