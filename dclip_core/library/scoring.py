"""The arithmetic of a search: the query vector, scores by best view, top-k, relevance cutoff.

The query vector is the weighted sum of the positive embeddings minus the weighted sum of the
negative ones, normalised to unit length, so scores stay cosine similarities whatever the mix.

Relevance (docs/adr/0015-relevance-cutoff.md): the query is scored against a random sample of the
library (up to :data:`RELEVANCE_SAMPLE` = 1000 vectors: its median is within a few percent of the
library's) and against the library's best match. A result is *relevant* when it lies in the top
``1 / (1 + sensitivity)`` of the way from the background's median up to that best score:

    threshold = best - (best - median) / (1 + sensitivity)

Both ends are scores of this query under this model, so the rule holds whatever the model's cosine
scale (a tiny CLIP spanning -0.3..0.85, OpenAI's ViT-B/32 spanning 0.1..0.35), and the best photo
always reaches it. The earlier rule, ``median + sensitivity * 1.4826 * MAD``
(:func:`robust_z_cutoff`, kept as the benchmark's baseline), assumed the background is noise with
a few outliers; a model that knows colours and shapes scores the near misses (a red square for
"red circle") high too, the spread grows with them, and the bar rose above any possible cosine.

Scores are cosines of unit vectors. A photo indexed with regions
(:mod:`dclip_core.library.regions`) scores as its best view, on the exact path
(:func:`exact_search_views`) and the ANN path (:func:`ann_search_views`) alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dclip_core.library.ann import AnnIndex
from dclip_core.library.query import Relevance
from dclip_core.library.regions import LABEL_STRIDE
from dclip_core.library.store import ModelRow

# Library vectors the relevance cutoff scores a query against (its median is within a few percent
# of the whole library's).
RELEVANCE_SAMPLE = 1000


def matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` without BLAS threads.

    A matrix-vector product is memory-bound; multi-threaded BLAS gains nothing on it and, next to
    ONNX Runtime's spinning worker threads, was measured 20x slower (11 ms vs 0.55 ms for
    2000x512 on the 2-core reference machine).
    """
    return np.einsum("ij,j->i", matrix, vector)


def combine_query(
    positives: Sequence[tuple[np.ndarray, float]], negatives: Sequence[tuple[np.ndarray, float]]
) -> np.ndarray:
    """Weighted sum of positives minus weighted negatives, normalised to unit length.

    Raises:
        ValueError: nothing positive to search for, or the terms cancel out.
    """
    if not positives:
        raise ValueError("a search needs at least one positive text or image")
    total = np.zeros_like(np.asarray(positives[0][0], dtype=np.float32))
    for vector, weight in positives:
        total += np.float32(weight) * np.asarray(vector, dtype=np.float32)
    for vector, weight in negatives:
        total -= np.float32(weight) * np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(total))
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError("the search terms cancel each other out; change their weights")
    return (total / norm).astype(np.float32)


def median_of(values: np.ndarray) -> float:
    """``float(np.median(values))`` of a non-empty 1-D array, computed the same way.

    np.median imports numpy.ma on its first call (~25 ms of a cold search); this takes the same
    partition and the same mean of the middle value(s), and gives NaN when a value is NaN.
    """
    size = len(values)
    half = size // 2
    middle = [half] if size % 2 else [half - 1, half]
    # Partitioning at the last position as well moves a NaN there, as np.median does.
    part = np.partition(values, [*middle, size - 1])
    if np.isnan(part[-1]):
        return float("nan")
    return float(np.mean(part[middle[0] : half + 1]))


def relevance_cutoff(
    query: np.ndarray,
    sample: np.ndarray,
    sensitivity: float,
    *,
    views: int = 1,
    best: float | None = None,
) -> Relevance:
    """The score a result needs to count as relevant to this query (see the module docstring).

    Args:
        query: the unit query vector.
        sample: stored rows of ``views`` vectors each, a random sample of the library; a photo
            scores as its best view, as in search.
        sensitivity: how close to the best score a result must be; 3 keeps the top quarter of the
            way from the median to the best, 0 everything above the median. Negative counts as 0.
        best: the library's best score for the query (the search's first hit). The sample's
            best stands in without it; with it, a match rarer than one in the sample still sets
            the top end, so the near misses in the sample are not marked.
    """
    if len(sample) == 0:
        return Relevance(1.0, 0.0, 0.0, 0, sensitivity, best if best is not None else 1.0)
    scores = sample_scores(query, sample, views)
    median = median_of(scores)
    top = float(np.max(scores)) if best is None else max(float(np.max(scores)), best)
    # Never above the best score: the best match is always relevant unless it ties the median.
    threshold = top - (top - median) / (1.0 + max(sensitivity, 0.0))
    return Relevance(
        threshold=threshold,
        background_median=median,
        background_spread=_robust_spread(scores, median),
        sample_size=len(sample),
        sensitivity=sensitivity,
        best_score=top,
    )


def robust_z_cutoff(scores: np.ndarray, sensitivity: float) -> float:
    """The earlier rule, ``median + sensitivity * 1.4826 * MAD`` of the background's scores.

    Kept as the baseline of ``dclip bench cutoff``: on the shapes demo it rises above every cosine
    (docs/adr/0015-relevance-cutoff.md).
    """
    median = median_of(scores)
    return median + sensitivity * _robust_spread(scores, median)


def sample_scores(query: np.ndarray, sample: np.ndarray, views: int = 1) -> np.ndarray:
    """Scores of the sampled photos for ``query``: each photo's best view."""
    return matvec(sample, query) if views == 1 else view_scores(sample, query, views).max(axis=1)


def _robust_spread(scores: np.ndarray, median: float) -> float:
    """1.4826 x MAD (a normal's standard deviation), with a floor for a constant background."""
    spread = 1.4826 * median_of(np.abs(scores - median))
    if spread < 1e-4:
        spread = max(float(np.std(scores)), 1e-3)
    return spread


def best_per_image(
    labels: np.ndarray, scores: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group ANN hits (best first) by image: (image ids, their best score, the view that had it).

    At most ``limit`` images come back, in the order of their best view.
    """
    images = labels // LABEL_STRIDE
    _, first = np.unique(images, return_index=True)
    order = np.sort(first)[:limit]
    return images[order], scores[order], (labels[order] % LABEL_STRIDE)


def view_scores(vectors: np.ndarray, query: np.ndarray, count: int) -> np.ndarray:
    """``(n, count)`` cosine scores of the views stored in ``vectors`` (``(n, count * dim)``)."""
    n = len(vectors)
    stacked = np.ascontiguousarray(vectors, dtype=np.float32).reshape(n, count, -1)
    # einsum, not BLAS: a matrix-vector product gains nothing from threads (matvec).
    return np.einsum("nvd,d->nv", stacked, np.asarray(query, dtype=np.float32))


def exact_search(
    query: np.ndarray, ids: np.ndarray, vectors: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-``k`` by cosine (for small filtered sets, and as the reference in tests)."""
    found, scores, _ = exact_search_views(query, ids, vectors, k, views=1)
    return found, scores


def exact_search_views(
    query: np.ndarray, ids: np.ndarray, rows: np.ndarray, k: int, views: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brute-force top-``k`` images by their best view: (ids, scores, index of that view).

    ``rows`` are stored rows of ``views`` vectors each (:mod:`dclip_core.library.regions`).
    """
    if len(ids) == 0 or k <= 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, np.empty(0, dtype=np.float32), empty
    if views == 1:
        scores = matvec(rows, query)
        best_view = np.zeros(len(ids), dtype=np.int64)
    else:
        per_view = view_scores(rows, query, views)
        best_view = per_view.argmax(axis=1)
        scores = per_view[np.arange(len(ids)), best_view]
    k = min(k, len(ids))
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return ids[top].astype(np.int64), scores[top].astype(np.float32), best_view[top]


def ann_search_views(
    ann: AnnIndex,
    model: ModelRow,
    query: np.ndarray,
    k: int,
    allowed: Callable[[int], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` images of the ANN index by their best view: (ids, scores, index of that view).

    ``allowed`` filters image ids. A region model asks the index for ``k * views`` vectors: at
    most ``views`` of them belong to one image, so ``k`` distinct images are among them.
    """
    if model.views == 1:
        ids, scores = ann.search(query, k, allowed)
        return ids, scores, np.zeros(len(ids), dtype=np.int64)

    def allowed_label(label: int) -> bool:
        assert allowed is not None
        return allowed(label // LABEL_STRIDE)

    labels, scores = ann.search(query, k * model.views, allowed_label if allowed else None)
    return best_per_image(labels, scores, k)
