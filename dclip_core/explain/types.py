"""The data an explanation hands to its reader: plain dataclasses, numpy arrays, no Qt, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dclip_core.explain.views import AttentionView, select

RegionKind = Literal["photo", "detection", "grid", "given"]
BoxXYXY = tuple[float, float, float, float]


@dataclass(frozen=True)
class Region:
    """One region of the photo the attention is over.

    Attributes:
        box: ``(x1, y1, x2, y2)`` in pixels of the upright (EXIF-rotated) photo at full size.
        label: the detector's class name, ``"photo"``, a grid position (``"top left"``) or the
            caller's label.
        confidence: detector score; 1.0 for the whole photo, grid cells and given boxes.
        kind: ``photo`` (the whole photo, always region 0), ``detection``, ``grid`` or ``given``.
    """

    box: BoxXYXY
    label: str
    confidence: float
    kind: RegionKind

    def to_json(self) -> dict[str, Any]:
        return {
            "box": [round(v, 2) for v in self.box],
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "kind": self.kind,
        }


@dataclass(frozen=True)
class SpanRef:
    """One span of the query.

    Attributes:
        text: the span's words as the tokenizer reads them (lower case).
        chars: ``(start, end)`` character range in the query as typed, or None for a span that
            lies wholly in words the bundle's query template added (``"a"`` of ``"a {}"``).
        tokens: ``(start, end)`` token positions (start-of-text token = 0) of the text the model
            read (the query in the bundle's template).
    """

    text: str
    chars: tuple[int, int] | None
    tokens: tuple[int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "chars": list(self.chars) if self.chars else None,
            "tokens": list(self.tokens),
        }


@dataclass(frozen=True, eq=False)
class Explanation:
    """How a query's spans and a photo's regions attend to each other, by one method.

    Every layer and head is kept, so showing another layer, head, span or colour scale is numpy
    on these arrays (:meth:`weights`), never a model run.

    Attributes:
        photo: the photo file.
        photo_sha256: its content hash (what the explanation cache keys by).
        image_size: ``(width, height)`` of the upright photo at full size; boxes are in it.
        query: the query as typed.
        model_text: the text the model read (the query in the bundle's template).
        regions: region 0 is the whole photo, then detections (best first), grid cells or the
            caller's boxes.
        spans: the query's spans, in order.
        text_to_region: ``[layers, heads, spans, regions]`` float32; each row sums to 1.
        region_to_text: ``[layers, heads, regions, spans]`` float32; each row sums to 1.
        method: the method's registry name (``teacher``, ``similarity``).
        method_summary: what the method is, in one line.
        span_mode: ``tokens`` or ``phrases``.
        region_source: ``detector:<name>``, ``grid`` or ``given``.
        meaningful: False when the weights say nothing about the photo: a random model, or a
            teacher whose training the bundle does not record.
        caveats: one line each, for the reader: why it is not meaningful, grid instead of a
            detector, and the like.
        bundle_fingerprint: the bundle's fingerprint (as the library keys its vectors).
        bundle_name: the bundle's display name.
    """

    photo: Path
    photo_sha256: str
    image_size: tuple[int, int]
    query: str
    model_text: str
    regions: tuple[Region, ...]
    spans: tuple[SpanRef, ...]
    text_to_region: np.ndarray
    region_to_text: np.ndarray
    method: str
    method_summary: str
    span_mode: str
    region_source: str
    meaningful: bool
    caveats: tuple[str, ...] = field(default_factory=tuple)
    bundle_fingerprint: str = ""
    bundle_name: str = ""

    @property
    def layers(self) -> int:
        return int(self.text_to_region.shape[0])

    @property
    def heads(self) -> int:
        return int(self.text_to_region.shape[1])

    def weights(self, view: AttentionView | None = None) -> np.ndarray:
        """The matrix ``view`` picks (default: text→region, last layer, mean of heads).

        Returns:
            ``[spans, regions]`` for ``text_to_region``, ``[regions, spans]`` for
            ``region_to_text``; float32, a new array.

        Raises:
            ValueError: a layer, head or region that does not exist.
        """
        return select(self.text_to_region, self.region_to_text, view or AttentionView())

    def span_weights(self, span: int, view: AttentionView | None = None) -> np.ndarray:
        """``[regions]``: how span ``span`` attends over the regions (text→region row)."""
        chosen = view or AttentionView()
        if chosen.direction != "text_to_region":
            raise ValueError("span_weights reads text_to_region rows; use weights() otherwise")
        return self.weights(chosen)[span]

    def char_range_weights(
        self, start: int, end: int, view: AttentionView | None = None
    ) -> np.ndarray | None:
        """``[regions]``: mean text→region row of the spans over query characters ``[start, end)``.

        What a reader wants when they select words: with token spans, ``"red circle"`` covers two
        spans whose rows are averaged. None when no span overlaps the range.
        """
        rows = [
            i
            for i, span in enumerate(self.spans)
            if span.chars is not None and span.chars[0] < end and start < span.chars[1]
        ]
        if not rows:
            return None
        matrix = self.weights(view or AttentionView())
        return np.asarray(matrix[rows].mean(axis=0), dtype=np.float32)

    def to_json(self, view: AttentionView | None = None, *, maps: bool = True) -> dict[str, Any]:
        """A JSON-ready dict: everything, the chosen view's matrix, and every map when ``maps``."""
        chosen = view or AttentionView()
        data: dict[str, Any] = {
            "photo": str(self.photo),
            "photo_sha256": self.photo_sha256,
            "image_size": list(self.image_size),
            "query": self.query,
            "model_text": self.model_text,
            "method": self.method,
            "method_summary": self.method_summary,
            "span_mode": self.span_mode,
            "region_source": self.region_source,
            "meaningful": self.meaningful,
            "caveats": list(self.caveats),
            "bundle": {"name": self.bundle_name, "fingerprint": self.bundle_fingerprint},
            "layers": self.layers,
            "heads": self.heads,
            "regions": [r.to_json() for r in self.regions],
            "spans": [s.to_json() for s in self.spans],
            "view": {
                "direction": chosen.direction,
                "layer": chosen.layer,
                "head": chosen.head,
                "hidden_regions": sorted(chosen.hidden_regions),
            },
            "weights": _rounded(self.weights(chosen)),
        }
        if maps:
            data["text_to_region"] = _rounded(self.text_to_region)
            data["region_to_text"] = _rounded(self.region_to_text)
        return data


def _rounded(array: np.ndarray) -> Any:
    return np.round(np.asarray(array, dtype=np.float64), 6).tolist()
