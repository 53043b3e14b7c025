"""Text spans for the teacher: re-exported from :mod:`dclip_core.runtime.spans` (torch-free).

The span code lives in the runtime so that the explain runtime splits a query exactly as training
split captions, without torch; training code keeps importing it from here.
"""

from __future__ import annotations

from dclip_core.runtime.spans import (
    SPAN_MODES,
    Span,
    SpanMode,
    WordTokenizer,
    chunk_noun_phrases,
    extract_spans,
    phrase_spans,
    span_pooling_matrix,
    token_spans,
)

__all__ = [
    "SPAN_MODES",
    "Span",
    "SpanMode",
    "WordTokenizer",
    "chunk_noun_phrases",
    "extract_spans",
    "phrase_spans",
    "span_pooling_matrix",
    "token_spans",
]
