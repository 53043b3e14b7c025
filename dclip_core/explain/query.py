"""The query side of an explanation: spans with their token ranges and character ranges.

The model reads the query in the bundle's template (``"red circle"`` -> ``"a red circle"``, as a
search does). Spans come from the same span code training used
(:func:`dclip_core.runtime.spans.extract_spans`) on that text; each span's words are then found
in the query as typed, so a reader can highlight them. A query without any span gets one over its
end token, as the training text encoder does (:class:`dclip_core.models.text_features
.FrozenTextEncoder`), so both paths feed the teacher the same spans.
"""

from __future__ import annotations

from dclip_core.explain.types import SpanRef
from dclip_core.runtime.spans import Span, SpanMode, extract_spans
from dclip_core.runtime.tokenizer import ClipTokenizer


def model_spans(tokenizer: ClipTokenizer, model_text: str, mode: SpanMode) -> list[Span]:
    """The spans the model sees for ``model_text``; one over the end token when there are none."""
    spans = extract_spans(tokenizer, model_text, mode)
    if spans:
        return spans
    row = tokenizer([model_text])[0].tolist()
    end = row.index(tokenizer.eot_token_id)
    return [Span(text="", start=end, end=end + 1)]


def span_refs(
    tokenizer: ClipTokenizer, query: str, model_text: str, spans: list[Span]
) -> list[SpanRef]:
    """``spans`` of ``model_text`` with their character ranges in ``query`` (see SpanRef)."""
    words = tokenizer.words(model_text)
    lowered = model_text.lower()
    word_chars: list[tuple[int, int] | None] = []
    cursor = 0
    for word, _ in words:
        found = lowered.find(word, cursor)
        if found < 0:
            # A word the cleaner rewrote (an HTML entity, mojibake): no place in the text.
            word_chars.append(None)
            continue
        word_chars.append((found, found + len(word)))
        cursor = found + len(word)
    word_of_token: dict[int, int] = {}
    position = 1
    for index, (_, ids) in enumerate(words):
        for _ in ids:
            word_of_token[position] = index
            position += 1
    # Where the query as typed sits in the text read: after the template's prefix, if any.
    found = lowered.find(query.strip().lower())
    offset = found - (len(query) - len(query.lstrip()))
    refs = []
    for span in spans:
        covered = [
            word_chars[word_of_token[t]]
            for t in range(span.start, span.end)
            if t in word_of_token and word_chars[word_of_token[t]] is not None
        ]
        chars = _query_chars(covered, offset, len(query)) if found >= 0 else None
        refs.append(SpanRef(span.text, chars, (span.start, span.end)))
    return refs


def _query_chars(
    covered: list[tuple[int, int] | None], offset: int, length: int
) -> tuple[int, int] | None:
    ranges = [c for c in covered if c is not None]
    if not ranges:
        return None
    start = max(min(c[0] for c in ranges) - offset, 0)
    end = min(max(c[1] for c in ranges) - offset, length)
    return (start, end) if start < end else None
