"""What the app asks the core for a search, and what it shows of the answer (no Qt).

:func:`build_query` turns the search bar's :class:`~dclip_app.search_bar.QueryInput` into the
core's :class:`~dclip_core.library.query.SearchQuery`; a :class:`SearchOutcome` holds the pages
of results fetched so far and says what the summary line shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from dclip_app.search_bar import QueryInput
from dclip_core.errors import DclipError

if TYPE_CHECKING:
    from dclip_core.library.query import SearchQuery, SearchResponse, SearchResult

FIRST_PAGE = 400
MAX_RESULTS = 100_000



def next_page_size(fetched: int) -> int:
    """How many results to ask for next: the first page, then as many again as are shown."""
    return min(max(fetched, FIRST_PAGE), MAX_RESULTS - fetched)


@dataclass(frozen=True)
class SearchOutcome:
    """A finished search, ready to show: the pages fetched so far.

    Attributes:
        query: what the user asked.
        response: the core's answer for the newest page.
        limit: how many results were asked for in all pages together.
        earlier: the results of the pages before ``response`` ("load more").
    """

    query: QueryInput
    response: SearchResponse
    limit: int
    earlier: tuple[SearchResult, ...] = ()

    @property
    def results(self) -> list[SearchResult]:
        return [*self.earlier, *self.response.results]

    @property
    def relevant_count(self) -> int:
        return sum(r.relevant for r in self.results)

    @property
    def threshold(self) -> float:
        return self.response.relevance.threshold

    @property
    def may_have_more(self) -> bool:
        return len(self.results) >= self.limit and self.limit < MAX_RESULTS

    @property
    def summary(self) -> str:
        """E.g. "400 results · 12 relevant · 35 ms"."""
        count = len(self.results)
        more = "+" if self.may_have_more else ""
        text = (
            f"{count:,}{more} result{'s' if count != 1 else ''} · "
            f"{self.relevant_count:,} relevant · {self.response.took_ms:.0f} ms"
        )
        if self.response.warnings:
            text += " · " + "; ".join(self.response.warnings)
        return text


def split_terms(text: str) -> list[str]:
    """Terms of the search field: comma-separated, each possibly weighted (``2:sunset``)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def build_query(query: QueryInput, limit: int = FIRST_PAGE, offset: int = 0) -> SearchQuery:
    """Turn what the user typed and picked into the core's :class:`SearchQuery`."""
    from dclip_core.library.query import ImageTerm, SearchQuery

    images: list[ImageTerm | Path] = []
    if query.example_image_id is not None:
        images = [ImageTerm(image_id=query.example_image_id)]
    elif query.example_path is not None:
        images = [query.example_path]
    return SearchQuery.from_strings(
        split_terms(query.text),
        minus=split_terms(query.without),
        images=images,
        folders=tuple(query.folders),
        after=_iso(query.after),
        before=_iso(query.before, next_day=True),
        limit=limit,
        offset=offset,
        sort=query.sort,
    )


def _iso(day: date | None, *, next_day: bool = False) -> str | None:
    if day is None:
        return None
    if next_day:
        # The "to" date is inclusive for the user; the core's ``before`` is exclusive.
        return date.fromordinal(day.toordinal() + 1).isoformat()
    return day.isoformat()


def search_failure_message(exc: BaseException) -> str:
    """One sentence for a search that raised ``exc``."""
    if isinstance(exc, DclipError):
        return str(exc)
    if isinstance(exc, ValueError):
        return f"This search cannot run: {exc}"
    return f"Search failed unexpectedly: {exc!r} (see the log)"
