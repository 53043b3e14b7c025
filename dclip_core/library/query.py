"""What a search asks for (:class:`SearchQuery`) and what it returns.

Query syntax (the CLI and the app's search box share it, see docs/cli-search.md):

* a term is text, optionally prefixed with a weight and a colon: ``2:sunset``, ``0.5:beach``;
  the weight multiplies the term's embedding (default 1);
* negative terms (``--minus``, or the app's "without" field) are subtracted with their weight;
* example images are terms too, given by path or library id, positive or negative.

How a query becomes a vector, scores and a relevance cutoff: :mod:`dclip_core.library.scoring`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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
        images: Sequence[str | Path | ImageTerm] = (),
        minus_images: Sequence[str | Path | ImageTerm] = (),
        folders: Sequence[Path] = (),
        after: str | None = None,
        before: str | None = None,
        limit: int = 20,
        offset: int = 0,
        sort: SortOrder = "score",
        sensitivity: float | None = None,
    ) -> SearchQuery:
        """Build a query from user strings in the documented syntax (``2:sunset``).

        Image terms may be strings (a path, optionally weighted: ``0.5:beach.jpg``), paths, or
        ready :class:`ImageTerm` s (a library image by id). Empty text terms are dropped.
        """

        def text_terms(items: Sequence[str]) -> tuple[TextTerm, ...]:
            out = []
            for item in items:
                text, weight = parse_weighted(item)
                if text:
                    out.append(TextTerm(text, weight))
            return tuple(out)

        def image_terms(items: Sequence[str | Path | ImageTerm]) -> tuple[ImageTerm, ...]:
            out = []
            for item in items:
                if isinstance(item, ImageTerm):
                    out.append(item)
                elif isinstance(item, Path):
                    out.append(ImageTerm(path=item))
                else:
                    text, weight = parse_weighted(item)
                    out.append(ImageTerm(path=Path(text).expanduser(), weight=weight))
            return tuple(out)

        return cls(
            texts=text_terms(texts),
            minus_texts=text_terms(minus),
            images=image_terms(images),
            minus_images=image_terms(minus_images),
            folders=tuple(folders),
            after=after,
            before=before,
            limit=limit,
            offset=offset,
            sort=sort,
            sensitivity=sensitivity,
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


