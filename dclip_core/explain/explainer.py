"""The explain runtime: photo + query + bundle -> :class:`Explanation`, computed once and cached.

Per call of :meth:`Explainer.explain`:

1. hash the photo's content (the cache key names content, not the path);
2. look up ``(photo hash, query, bundle, method, span mode, regions asked for)``: a hit returns
   the stored explanation and runs no model — a new layer, head, span or colour scale is a view
   of it (:meth:`Explanation.weights`, :mod:`dclip_core.explain.overlay`);
3. otherwise: decode the photo and propose regions (whole photo + detector boxes, the library's
   grid without a detector, or the caller's boxes) — cached per photo, so another method or
   query on the same photo does not run the detector again;
4. embed the crops with the method's image encoder (cached per photo and encoder);
5. split the query into spans with the method's span code and run the method.

The cancel token is checked between these steps (:class:`ExplainCancelledError`). An
:class:`Explainer` is safe to share between threads: caches are guarded by a lock; two threads
asking for the same uncached explanation may both compute it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter, OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from dclip_core.cancel import CancelToken
from dclip_core.explain.errors import ExplainCancelledError, ExplainError
from dclip_core.explain.methods import (
    ExplainMethod,
    MethodContext,
    available_methods,
    get_method,
)
from dclip_core.explain.models import BundleModels
from dclip_core.explain.photo import (
    DecodedPhoto,
    RegionProposals,
    decode_photo,
    detector_regions,
    given_regions,
    grid_regions,
    photo_sha256,
)
from dclip_core.explain.query import span_refs
from dclip_core.explain.types import BoxXYXY, Explanation
from dclip_core.runtime.encoders import ClipEncoder
from dclip_core.runtime.spans import SPAN_MODES, SpanMode

DEFAULT_MAX_REGIONS = 16
GRID_CAVEAT = "this bundle has no detector: the regions are the library's fixed grid, not objects"

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def values(self) -> list[V]:
        return list(self._items.values())

    def clear(self) -> None:
        self._items.clear()


@dataclass
class _PhotoEntry:
    """One photo's decoded copy, regions and crop embeddings per encoder file."""

    photo: DecodedPhoto
    proposals: RegionProposals
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)


class Explainer:
    """Explanations of one bundle, with their cache.

    Build it with :meth:`load` (or from an open :class:`ClipEncoder`). ``model_runs`` counts every
    model call (``detector``, ``crop_encoder``, ``span_encoder``, ``text_encoder``, ``teacher``),
    which is how tests see a cache hit run nothing.

    Args:
        encoder: the bundle's encoder (its manifest is verified).
        threads: intra-op CPU threads for the explain sessions (0: ONNX Runtime's default).
        max_regions: most regions per photo, the whole photo included.
        cache_size: explanations kept (photos' regions: a quarter of it, at least 2).
    """

    def __init__(
        self,
        encoder: ClipEncoder,
        *,
        threads: int = 0,
        max_regions: int = DEFAULT_MAX_REGIONS,
        cache_size: int = 32,
    ) -> None:
        if max_regions < 1:
            raise ValueError(f"max_regions must be at least 1 (the whole photo), not {max_regions}")
        self.models = BundleModels(encoder, encoder.provider_choice, threads)
        self.manifest = encoder.manifest
        self.max_regions = max_regions
        self.model_runs: Counter[str] = Counter()
        self._explanations: _Lru[tuple[Hashable, ...], Explanation] = _Lru(cache_size)
        self._photos: _Lru[tuple[Hashable, ...], _PhotoEntry] = _Lru(max(2, cache_size // 4))
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, bundle: Path | str, *, provider: str = "auto", threads: int = 0, **kwargs: int
    ) -> Explainer:
        """Open a bundle for explaining (verifies it, opens sessions on first use).

        Raises:
            BundleError: the bundle is missing or tampered with.
        """
        encoder = ClipEncoder.load(bundle, provider=provider, threads=threads)
        return cls(encoder, threads=threads, **kwargs)

    # --- what can be asked

    @property
    def methods(self) -> list[str]:
        """Methods this bundle can run, the default first (``teacher`` only with ``explain/``)."""
        return available_methods(self.models)

    @property
    def default_method(self) -> str:
        return self.methods[0]

    @property
    def region_source(self) -> str:
        """Where regions come from without given boxes: ``detector:<name>`` or ``grid``."""
        if self.models.has_detector:
            return f"detector:{self.models.detector_name}"
        return "grid"

    # --- explaining

    def explain(
        self,
        photo: Path | str,
        query: str,
        *,
        method: str | None = None,
        span_mode: SpanMode | None = None,
        boxes: Sequence[tuple[BoxXYXY, str]] | None = None,
        cancel: CancelToken | None = None,
    ) -> Explanation:
        """Explain how ``query`` matches ``photo``: every layer and head, cached.

        Args:
            photo: the photo file (decoded with the library's decoder).
            query: the query as typed; the model reads it in the bundle's query template.
            method: a name from :attr:`methods` (default: :attr:`default_method`).
            span_mode: ``tokens`` or ``phrases``; default: the teacher's own mode for
                ``teacher``, phrases for ``similarity``.
            boxes: ``((x1, y1, x2, y2), label)`` in pixels of the upright photo, used as the
                regions (after the whole photo) instead of the detector or grid.
            cancel: checked between steps; when set, :class:`ExplainCancelledError` is raised.

        Raises:
            ExplainError: unreadable photo, empty query, a method the bundle cannot run, bad
                span mode or boxes. ExplainCancelledError: cancelled.
        """
        path = Path(photo)
        if not query.strip():
            raise ExplainError("the query is empty; give the words to explain, e.g. 'a red circle'")
        chosen = get_method(method or self.default_method)
        if not chosen.available(self.models):
            self.models.require_explain()
        if span_mode is not None and span_mode not in SPAN_MODES:
            raise ExplainError(
                f"unknown span mode {span_mode!r}; choose one of {', '.join(SPAN_MODES)}"
            )
        _check(cancel)
        digest = photo_sha256(path)
        region_key = ("given", tuple(boxes)) if boxes is not None else (self.region_source,)
        key = (digest, query, self.manifest.fingerprint, chosen.name, span_mode, region_key)
        with self._lock:
            hit = self._explanations.get(key)
        if hit is not None:
            return hit if hit.photo == path else _with_photo(hit, path)
        entry = self._photo_entry(path, digest, region_key, boxes, cancel)
        explanation = self._run(chosen, entry, query, span_mode, cancel)
        with self._lock:
            self._explanations.put(key, explanation)
        return explanation

    def photo_image(self, explanation: Explanation) -> DecodedPhoto | None:
        """The decoded working copy of the explanation's photo, while it is cached (overlays)."""
        with self._lock:
            for entry in self._photos.values():
                if entry.photo.sha256 == explanation.photo_sha256:
                    return entry.photo
        return None

    def clear_cache(self) -> None:
        with self._lock:
            self._explanations.clear()
            self._photos.clear()

    # --- steps

    def _photo_entry(
        self,
        path: Path,
        digest: str,
        region_key: tuple[Hashable, ...],
        boxes: Sequence[tuple[BoxXYXY, str]] | None,
        cancel: CancelToken | None,
    ) -> _PhotoEntry:
        key = (digest, self.max_regions, *region_key)
        with self._lock:
            entry = self._photos.get(key)
        if entry is not None:
            return entry
        decoded = decode_photo(path, digest)
        _check(cancel)
        if boxes is not None:
            proposals = given_regions(decoded, boxes)
        elif self.models.has_detector:
            proposals = detector_regions(decoded, self.models.detector(), self.max_regions)
            self.model_runs["detector"] += 1
        else:
            proposals = grid_regions(decoded)
        _check(cancel)
        entry = _PhotoEntry(decoded, proposals)
        with self._lock:
            self._photos.put(key, entry)
        return entry

    def _run(
        self,
        method: ExplainMethod,
        entry: _PhotoEntry,
        query: str,
        span_mode: SpanMode | None,
        cancel: CancelToken | None,
    ) -> Explanation:
        model_text = self.manifest.text.query_text(query)
        context = _Context(self, entry, model_text, span_mode, cancel)
        result = method.run(context)
        _check(cancel)
        tokenizer = self.models.encoder.tokenizer
        caveats = list(result.caveats)
        if entry.proposals.source == "grid":
            caveats.append(GRID_CAVEAT)
        return Explanation(
            photo=entry.photo.path,
            photo_sha256=entry.photo.sha256,
            image_size=entry.photo.full_size,
            query=query,
            model_text=model_text,
            regions=entry.proposals.regions,
            spans=tuple(span_refs(tokenizer, query, model_text, result.spans)),
            text_to_region=result.text_to_region,
            region_to_text=result.region_to_text,
            method=method.name,
            method_summary=method.summary,
            span_mode=result.span_mode,
            region_source=entry.proposals.source,
            meaningful=result.meaningful,
            caveats=tuple(caveats),
            bundle_fingerprint=self.manifest.fingerprint,
            bundle_name=self.manifest.name,
        )


class _Context(MethodContext):
    """The :class:`MethodContext` of one explanation."""

    def __init__(
        self,
        explainer: Explainer,
        entry: _PhotoEntry,
        model_text: str,
        span_mode: SpanMode | None,
        cancel: CancelToken | None,
    ) -> None:
        self._explainer = explainer
        self._entry = entry
        self._model_text = model_text
        self._span_mode = span_mode
        self._cancel = cancel

    @property
    def models(self) -> BundleModels:
        return self._explainer.models

    @property
    def model_text(self) -> str:
        return self._model_text

    @property
    def span_mode(self) -> SpanMode | None:
        return self._span_mode

    def region_embeddings(self, encoder: ClipEncoder) -> np.ndarray:
        identity = encoder.manifest.image.file
        cached = self._entry.embeddings.get(identity)
        if cached is not None:
            return cached
        self.check_cancel()
        vectors = encoder.embed_images(list(self._entry.proposals.crops))
        self.ran("crop_encoder")
        self._entry.embeddings[identity] = vectors
        return vectors

    def ran(self, model: str) -> None:
        self._explainer.model_runs[model] += 1

    def check_cancel(self) -> None:
        _check(self._cancel)


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise ExplainCancelledError("the explanation was cancelled")


def _with_photo(explanation: Explanation, path: Path) -> Explanation:
    """The same explanation for a copy of the photo at another path (same content)."""
    return dataclasses.replace(explanation, photo=path)
