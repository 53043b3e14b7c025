"""Answer a :class:`SearchQuery` over one model's vectors: read-only, safe beside a running indexer.

:class:`SearchEngine` keeps, per model, the ANN index in memory (caught up with the database's
embedding log before each search, so photos committed by an indexer a moment ago are found), a
random background sample for the relevance cutoff, and an LRU cache of query embeddings.

Filters (folders, dates) are applied in SQLite first; when they leave at most
:data:`EXACT_LIMIT` photos those are scored exactly (faster and exact for small sets), otherwise
the ANN search runs with a label filter.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import numpy as np

from dclip_core.errors import ImageDecodeError, LibraryError
from dclip_core.library.ann import AnnIndex, AnnParams
from dclip_core.library.ann_sync import sync_ann_index
from dclip_core.library.encoder import Encoder
from dclip_core.library.query import (
    ImageTerm,
    SearchQuery,
    SearchResponse,
    SearchResult,
    TextTerm,
)
from dclip_core.library.regions import views
from dclip_core.library.scoring import (
    RELEVANCE_SAMPLE,
    ann_search_views,
    combine_query,
    exact_search_views,
    relevance_cutoff,
)
from dclip_core.library.store import LibraryStore, ModelRow
from dclip_core.runtime.images import load_image
from dclip_core.runtime.preprocess import preprocess_image

EXACT_LIMIT = 50_000
# How many best-scoring candidates a date-sorted search orders by date.
DATE_SORT_POOL = 1000


class LruCache:
    """A small thread-safe least-recently-used map (query embeddings)."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._guard = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._guard:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: np.ndarray) -> None:
        with self._guard:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


class SearchEngine:
    """Search state of one library in one process (thread-safe)."""

    def __init__(
        self, library_dir: Path, params: AnnParams | None = None, *, verify_files: bool = True
    ) -> None:
        """Args:
        library_dir: the library folder (its ``ann/`` files are read and refreshed).
        params: ANN construction/query settings.
        verify_files: drop results whose file vanished since indexing (one ``stat`` per result;
            benchmarks over synthetic vectors without files turn it off).
        """
        self.library_dir = library_dir
        self.params = params or AnnParams()
        self.verify_files = verify_files
        self.query_cache = LruCache()
        self._ann: dict[str, AnnIndex] = {}
        self._samples: dict[str, tuple[int, np.ndarray]] = {}
        self._guard = threading.Lock()

    def ann_index(self, store: LibraryStore, model: ModelRow) -> AnnIndex:
        """The model's ANN index, caught up with the database."""
        with self._guard:
            current = self._ann.get(model.fingerprint)
            ann = sync_ann_index(store, model, self.library_dir, self.params, current=current)
            self._ann[model.fingerprint] = ann
            return ann

    def background(self, store: LibraryStore, model: ModelRow, count: int) -> np.ndarray:
        """Random library vectors for the relevance cutoff; re-drawn when the library grew 10%."""
        with self._guard:
            cached = self._samples.get(model.fingerprint)
            if cached is not None and abs(count - cached[0]) <= max(0.1 * cached[0], 0):
                return cached[1]
        _, sample = store.sample_vectors(model.id, RELEVANCE_SAMPLE)
        vectors = np.ascontiguousarray(sample, dtype=np.float32)
        with self._guard:
            self._samples[model.fingerprint] = (count, vectors)
        return vectors

    def _text_vectors(
        self, model: ModelRow, encoder: Encoder, terms: Sequence[TextTerm]
    ) -> list[np.ndarray]:
        missing = [
            t.text for t in terms if self.query_cache.get((model.fingerprint, t.text)) is None
        ]
        if missing:
            unique = list(dict.fromkeys(missing))
            # In the wording the model was trained on, when its bundle names one ("a {}").
            worded = [encoder.manifest.text.query_text(text) for text in unique]
            vectors = np.asarray(encoder.embed_texts(worded), dtype=np.float32)
            for text, vector in zip(unique, vectors, strict=True):
                self.query_cache.put((model.fingerprint, text), vector)
        out = []
        for term in terms:
            vector = self.query_cache.get((model.fingerprint, term.text))
            assert vector is not None
            out.append(vector)
        return out

    def _image_vector(
        self, store: LibraryStore, model: ModelRow, encoder: Encoder | None, term: ImageTerm
    ) -> np.ndarray:
        """A library image's stored vector, else the file embedded now (cached by size/mtime)."""
        image_id = term.image_id
        path = Path(os.path.abspath(term.path)) if term.path is not None else None
        if image_id is None and path is not None:
            row = store.image_by_path(str(path))
            image_id = row.id if row is not None and row.status == "ok" else None
        if image_id is not None:
            ids, vectors = store.vectors_of(model.id, [image_id])
            if len(ids):
                # The whole photo's vector (a region model stores its crops' after it).
                return np.asarray(vectors[0, : model.embed_dim], dtype=np.float32)
            if path is None:
                raise LibraryError(
                    f"image #{image_id} has no vector of model {model.name}; index the library "
                    "with that model first"
                )
        assert path is not None
        try:
            stat = path.stat()
        except OSError as exc:
            raise LibraryError(
                f"example image {path} cannot be read ({exc.strerror or exc}); check the path"
            ) from exc
        key = (model.fingerprint, "image", str(path), stat.st_size, stat.st_mtime_ns)
        cached = self.query_cache.get(key)
        if cached is not None:
            return cached
        if encoder is None:
            raise LibraryError("an example image outside the library needs the model's encoder")
        try:
            image = load_image(path, min_side=encoder.manifest.image.preprocess.size)
        except ImageDecodeError as exc:
            raise LibraryError(f"example image {path} cannot be used: {exc.reason}") from exc
        pixels = preprocess_image(image, encoder.manifest.image.preprocess)[None]
        vector = np.asarray(encoder.embed_pixels(pixels), dtype=np.float32)[0]
        self.query_cache.put(key, vector)
        return vector

    def _encode_texts_beside_first_load(
        self, model: ModelRow, encoder: Encoder | None, query: SearchQuery
    ) -> Future[list[np.ndarray]] | None:
        """Start encoding the query's texts in a helper thread on a model's first search.

        The first search of a process loads the ANN index and the background sample (~0.15 s
        at 10k) and, for text, opens the text model and its tokenizer (~0.5 s): this runs the
        two at once. The vectors land in the query cache, where :meth:`query_vector` finds them;
        results are the same. Later searches encode in the calling thread as before.

        Returns:
            The running encoding, or None when there is nothing to overlap.
        """
        terms = [*query.texts, *query.minus_texts]
        if encoder is None or not terms:
            return None
        with self._guard:
            if model.fingerprint in self._ann:
                return None
        encoding: Future[list[np.ndarray]] = Future()

        def encode() -> None:
            try:
                encoding.set_result(self._text_vectors(model, encoder, terms))
            except BaseException as exc:
                # Not swallowed: search() raises it from encoding.result().
                encoding.set_exception(exc)

        threading.Thread(target=encode, name="dclip-encode-query").start()
        return encoding

    def query_vector(
        self, store: LibraryStore, model: ModelRow, encoder: Encoder | None, query: SearchQuery
    ) -> np.ndarray:
        """The unit vector a query searches with (see :func:`combine_query`)."""
        if (query.texts or query.minus_texts) and encoder is None:
            raise LibraryError("a text search needs the model's encoder")
        positives: list[tuple[np.ndarray, float]] = []
        negatives: list[tuple[np.ndarray, float]] = []
        if query.texts or query.minus_texts:
            assert encoder is not None
            plus = len(query.texts)
            terms = [*query.texts, *query.minus_texts]
            for index, (term, vector) in enumerate(
                zip(terms, self._text_vectors(model, encoder, terms), strict=True)
            ):
                (positives if index < plus else negatives).append((vector, term.weight))
        for image_term in query.images:
            vector = self._image_vector(store, model, encoder, image_term)
            positives.append((vector, image_term.weight))
        for image_term in query.minus_images:
            vector = self._image_vector(store, model, encoder, image_term)
            negatives.append((vector, image_term.weight))
        try:
            return combine_query(positives, negatives)
        except ValueError as exc:
            raise LibraryError(f"cannot search: {exc}") from exc

    def search(
        self,
        store: LibraryStore,
        model: ModelRow,
        encoder: Encoder | None,
        query: SearchQuery,
        sensitivity: float,
    ) -> SearchResponse:
        """Run ``query`` against ``model``'s vectors."""
        started = time.perf_counter()
        if query.is_empty:
            raise LibraryError("empty search: give a text, an --image, or both")
        encoding = self._encode_texts_beside_first_load(model, encoder, query)
        try:
            ann = self.ann_index(store, model)
            background = self.background(store, model, ann.count)
        finally:
            if encoding is not None:
                # Raised first, as when the texts were encoded before the index was read.
                encoding.result()
        vector = self.query_vector(store, model, encoder, query)
        sensitivity = query.sensitivity if query.sensitivity is not None else sensitivity
        wanted = query.offset + query.limit
        pool = max(wanted, DATE_SORT_POOL) if query.sort != "score" else wanted
        warnings: list[str] = []
        folders = [os.path.abspath(f) for f in query.folders]
        if folders or query.after or query.before:
            allowed = store.filtered_ids(folders, query.after, query.before)
            total = len(allowed)
            if total <= EXACT_LIMIT:
                ids, vectors = store.vectors_of(model.id, allowed)
                found = exact_search_views(vector, ids, vectors, pool + 16, model.views)
            else:
                allowed_set = set(allowed)
                found = ann_search_views(ann, model, vector, pool + 16, allowed_set.__contains__)
            # The cutoff measures from the whole library's best match, so a folder without one
            # does not mark its near misses relevant.
            library_best = ann_search_views(ann, model, vector, 1)[1]
        else:
            total = ann.count // model.views
            found = ann_search_views(ann, model, vector, pool + 16)
            library_best = found[1][:1]
        found_ids, scores, found_views = found
        relevance = relevance_cutoff(
            vector,
            background,
            sensitivity,
            views=model.views,
            best=float(library_best[0]) if len(library_best) else None,
        )
        boxes = views(model.regions)
        rows = store.images([int(i) for i in found_ids])
        results: list[SearchResult] = []
        for image_id, score, view in zip(
            found_ids.tolist(), scores.tolist(), found_views.tolist(), strict=True
        ):
            row = rows.get(image_id)
            if row is None:
                continue  # removed by an indexer after the index was read
            if self.verify_files and not os.path.exists(row.path):
                warnings.append(f"{row.path} is no longer on disk (re-index to drop it)")
                continue
            results.append(
                SearchResult(
                    image_id=image_id,
                    path=Path(row.path),
                    score=float(score),
                    rank=0,
                    relevant=bool(score >= relevance.threshold),
                    taken_at=row.taken_at,
                    width=row.width,
                    height=row.height,
                    size_bytes=row.size,
                    region=boxes[view] if view else None,
                )
            )
        if query.sort != "score":
            results = [r for r in results if r.relevant]
            results.sort(key=lambda r: r.taken_at or "", reverse=query.sort == "date_desc")
        page = results[query.offset : wanted]
        page = [replace(r, rank=query.offset + i + 1) for i, r in enumerate(page)]
        return SearchResponse(
            query=query,
            model=model.name,
            model_fingerprint=model.fingerprint,
            results=page,
            relevance=relevance,
            total_candidates=total,
            relevant_count=sum(r.relevant for r in page),
            took_ms=(time.perf_counter() - started) * 1000.0,
            warnings=warnings,
        )
