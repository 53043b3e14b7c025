"""The photo library: scanning, decoding, the SQLite store, the ANN index, indexing and search.

Torch-free: it embeds through :mod:`dclip_core.runtime` only. The public API is re-exported here:
:class:`Library` (open/close, roots, :meth:`~Library.index`, :meth:`~Library.search`, status, failed
files, thumbnails, image records), :class:`SearchQuery` and its results, and the progress/cancel
types of indexing. See :mod:`dclip_core.library.library` for threading and model rules.
"""

from __future__ import annotations

from dclip_core.library.ann import AnnParams
from dclip_core.library.index_types import (
    CancelToken,
    IndexOptions,
    IndexProgress,
    IndexReport,
)
from dclip_core.library.library import (
    FailedFile,
    Library,
    LibraryStatus,
    ModelInfo,
    RootInfo,
)
from dclip_core.library.query import (
    ImageTerm,
    Relevance,
    SearchQuery,
    SearchResponse,
    SearchResult,
    TextTerm,
    parse_weighted,
)
from dclip_core.library.store import ImageRecord

__all__ = [
    "AnnParams",
    "CancelToken",
    "FailedFile",
    "ImageRecord",
    "ImageTerm",
    "IndexOptions",
    "IndexProgress",
    "IndexReport",
    "Library",
    "LibraryStatus",
    "ModelInfo",
    "Relevance",
    "RootInfo",
    "SearchQuery",
    "SearchResponse",
    "SearchResult",
    "TextTerm",
    "parse_weighted",
]
