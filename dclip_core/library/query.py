"""What a search asks for (:class:`SearchQuery`), what it returns, and the arithmetic in between.

Query syntax (the CLI and the app's search box share it, see docs/cli-search.md):

* a term is text, optionally prefixed with a weight and a colon: ``2:sunset``, ``0.5:beach``;
  the weight multiplies the term's embedding (default 1);
* negative terms (``--minus``, or the app's "without" field) are subtracted with their weight;
* example images are terms too, given by path or library id, positive or negative.

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
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from dclip_core.library.regions import view_scores

RELEVANCE_SAMPLE = 1000
_WEIGHT = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*:(.*)$", re.DOTALL)

SortOrder = Literal["score", "date_desc", "date_asc"]


@dataclass(frozen=True)
class TextTerm:
    text: str
    weight: float = 1.0


@dataclass(frozen=True)
class ImageTerm:
    """An example image: a file path, or the id of a library image (``image_id``)."""

    path: Path | None = None
    image_id: int | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        if (self.path is None) == (self.image_id is None):
            raise ValueError("an image term needs exactly one of path or image_id")


def parse_weighted(term: str) -> tuple[str, float]:
    """``"2:sunset"`` -> ``("sunset", 2.0)``; text without a numeric prefix has weight 1.

    Only a number before the first colon is a weight, so ``C:\\photos`` or ``note: red`` stay text.
    """
    match = _WEIGHT.match(term)
    if match and match.group(2).strip():
        return match.group(2).strip(), float(match.group(1))
    return term.strip(), 1.0


@dataclass(frozen=True)
class SearchQuery:
    """Everything a search can ask for. Build it directly or with :meth:`from_strings`.

    Attributes:
        texts / minus_texts: positive and negative text terms.
        images / minus_images: positive and negative example images.
        folders: keep only images inside one of these folders (recursive); empty = everywhere.
        after / before: keep images taken on or after ``after`` and strictly before ``before``
            (ISO dates or date-times, compared with the date taken: EXIF, else file time).
        limit / offset: the page of results.
        sort: ``score`` (best first), or ``date_desc`` / ``date_asc`` over the relevant results.
        sensitivity: override of settings.relevance_sensitivity for this search.
    """

    texts: tuple[TextTerm, ...] = ()
    minus_texts: tuple[TextTerm, ...] = ()
    images: tuple[ImageTerm, ...] = ()
    minus_images: tuple[ImageTerm, ...] = ()
    folders: tuple[Path, ...] = ()
    after: str | None = None
    before: str | None = None
    limit: int = 20
    offset: int = 0
    sort: SortOrder = "score"
    sensitivity: float | None = None

    @classmethod
    def from_strings(
        cls,
        texts: Sequence[str] = (),
        *,
        minus: Sequence[str] = (),
        images: Sequence[str | Path] = (),
        minus_images: Sequence[str | Path] = (),
        **options: object,
    ) -> SearchQuery:
        """Build a query from user strings in the documented syntax (``2:sunset``)."""

        def text_terms(items: Sequence[str]) -> tuple[TextTerm, ...]:
            out = []
            for item in items:
                text, weight = parse_weighted(item)
                if text:
                    out.append(TextTerm(text, weight))
            return tuple(out)

        def image_terms(items: Sequence[str | Path]) -> tuple[ImageTerm, ...]:
            out = []
            for item in items:
                if isinstance(item, Path):
                    out.append(ImageTerm(path=item))
                    continue
                text, weight = parse_weighted(item)
                out.append(ImageTerm(path=Path(text).expanduser(), weight=weight))
            return tuple(out)

        return cls(
            texts=text_terms(texts),
            minus_texts=text_terms(minus),
            images=image_terms(images),
            minus_images=image_terms(minus_images),
            **options,  # type: ignore[arg-type]
        )

    @property
    def is_empty(self) -> bool:
        return not (self.texts or self.images or self.minus_texts or self.minus_images)

    def describe(self) -> str:
        """One line saying what was asked, for logs and the CLI's JSON."""
        parts = [f"{t.weight:g}:{t.text}" if t.weight != 1 else t.text for t in self.texts]
        parts += [f"image {t.path or '#' + str(t.image_id)}" for t in self.images]
        parts += [f"-{t.text}" for t in self.minus_texts]
        parts += [f"-image {t.path or '#' + str(t.image_id)}" for t in self.minus_images]
        return " ".join(parts)


@dataclass(frozen=True)
class SearchResult:
    """One matching photo."""

    image_id: int
    path: Path
    score: float
    rank: int
    relevant: bool
    taken_at: str | None
    width: int | None
    height: int | None
    size_bytes: int
    # The crop that matched best, as fractions (left, top, right, bottom) of the photo, when the
    # library is indexed with regions and a crop outscored the whole photo; else None.
    region: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Relevance:
    """How the query scores against the library as a whole, and the cutoff derived from it."""

    threshold: float
    background_median: float
    background_spread: float
    sample_size: int
    sensitivity: float
    # The best score the cutoff measured from: the library's best match (else the sample's).
    best_score: float = 1.0


@dataclass(frozen=True)
class SearchResponse:
    query: SearchQuery
    model: str
    model_fingerprint: str
    results: list[SearchResult]
    relevance: Relevance
    total_candidates: int
    relevant_count: int
    took_ms: float
    warnings: list[str] = field(default_factory=list)


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
