"""Text spans: which pieces of a caption the DCLIP teacher attends over (torch-free).

Two modes, both expressed as token ranges of the tokenized caption so that the visualizer can
highlight the words a span covers:

- ``tokens`` — the paper's code: one span per BPE token of the caption (start and end tokens
  dropped). Its vector is the token's final text-transformer state, projected into the joint space.
- ``phrases`` — noun-phrase chunks found by a small rule-based chunker (no model download). A
  phrase's vector is the mean of its tokens' projected states (see docs/method.md).

Token positions count the start-of-text token as position 0, exactly as in the ``input_ids`` the
text encoder receives, so ``Span.start``/``Span.end`` index its per-token outputs directly.
It lives in the torch-free runtime because the explain runtime (and the app's visualizer) split
queries on the ONNX path; :mod:`dclip_core.models.spans` re-exports it for the training code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

SpanMode = Literal["tokens", "phrases"]
SPAN_MODES: tuple[SpanMode, ...] = ("tokens", "phrases")


class WordTokenizer(Protocol):
    """What span extraction needs from a CLIP tokenizer (the runtime ``ClipTokenizer`` has it)."""

    context_length: int

    def words(self, text: str) -> list[tuple[str, list[int]]]:
        """Each pre-token word of the cleaned text with its BPE ids, in order."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """The text of BPE ids."""
        ...


@dataclass(frozen=True)
class Span:
    """A piece of a caption: its text and the half-open token range ``[start, end)`` it covers."""

    text: str
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Closed word classes of English captions. Anything outside them is treated as a content word
# (noun or adjective); the chunker only has to find where noun phrases stop.
_DETERMINERS = _word_set(
    "a an the this that these those some any each every another no my your his her its our their "
    "one two three four five six seven eight nine ten several many few both all"
)
_PREPOSITIONS = _word_set(
    "of in on at by with without from to into onto over under above below behind beside besides "
    "near next between among through across along around about against after before during "
    "inside outside up down off out toward towards upon via while like as than for"
)
_CONJUNCTIONS = _word_set("and or but nor so yet because although though if when where")
_PRONOUNS = _word_set(
    "i you he she it we they me him us them who whom which what whose there here someone something"
)
_VERBS = _word_set(
    "is are was were be been being am has have had do does did can could will would shall should "
    "may might must sits sit sat stands stand stood holds hold held looks look rides ride walks "
    "walk plays play lies lie lay eats eat flies fly runs run jumps jump carries carry wears wear "
    "shows show sits sleeps sleep waits wait watches watch takes take makes make gets get goes go "
    "uses use contains contain has appears appear seems seem parked covered filled made seen "
    "topped surrounded dressed located placed"
)
_ADVERBS = _word_set(
    "very not too also just only still really quite almost together away back then now outdoors "
    "indoors nearby"
)
# Words that may start a phrase and still let an -ing word be its head ("a building").
_ADJECTIVE_HINTS = _word_set(
    "red green blue yellow black white brown gray grey orange pink purple small large big little "
    "tall short old young new long wooden metal"
)
_RELATION_HEADS = _word_set("left right front top bottom side middle center centre")
_BOUNDARY = _PREPOSITIONS | _CONJUNCTIONS | _PRONOUNS | _VERBS | _ADVERBS


def _is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def chunk_noun_phrases(words: Sequence[str]) -> list[tuple[int, int]]:
    """Group caption words into noun phrases.

    A phrase is a run of words that starts with optional determiners/numbers, continues with
    content words and stops at a preposition, conjunction, pronoun, verb, adverb or punctuation.
    An ``-ing`` word ends a phrase that already has a head ("a man | riding a horse") but is the
    head of one that has none yet ("a building"). Phrases made only of determiners are dropped.

    Args:
        words: the caption's words, lower-cased, as the CLIP tokenizer splits them.

    Returns:
        Half-open ``(first_word, last_word + 1)`` index ranges into ``words``, in order.
    """
    phrases: list[tuple[int, int]] = []
    start: int | None = None
    has_head = False

    def close(end: int) -> None:
        nonlocal start, has_head
        if start is not None and has_head:
            phrases.append((start, end))
        start, has_head = None, False

    lowered = [w.strip().lower() for w in words]
    for i, word in enumerate(lowered):
        following = lowered[i + 1] if i + 1 < len(lowered) else ""
        previous = lowered[i - 1] if i else ""
        # "left of", "from left to right": a spatial relation, not the head of a noun phrase
        relation = word in _RELATION_HEADS and (
            following in ("of", "to") or previous in ("from", "to")
        )
        if not _is_word(word) or word in _BOUNDARY or relation:
            close(i)
            continue
        if word in _DETERMINERS or word.isdigit():
            if has_head:  # "a dog two cats": a determiner after a head starts a new phrase
                close(i)
            if start is None:
                start = i
            continue
        if word.endswith("ing") and len(word) > 4:
            prefix_ok = start is not None and all(
                w in _DETERMINERS or w in _ADJECTIVE_HINTS for w in lowered[start:i]
            )
            if has_head or not prefix_ok:
                close(i)
                continue
        if start is None:
            start = i
        has_head = True
    close(len(words))
    return phrases


def _max_position(tokenizer: WordTokenizer) -> int:
    # The last position of the context holds the end token, so content tokens stop before it.
    return tokenizer.context_length - 1


def token_spans(tokenizer: WordTokenizer, text: str) -> list[Span]:
    """One span per BPE token of ``text`` (start/end tokens excluded), as the paper's code.

    A word split into several BPE tokens gives several spans, each labelled with its own piece.
    """
    spans: list[Span] = []
    position = 1
    limit = _max_position(tokenizer)
    for word, ids in tokenizer.words(text):
        for token_id in ids:
            if position >= limit:
                return spans
            label = tokenizer.decode([token_id]).strip() if len(ids) > 1 else word
            spans.append(Span(text=label, start=position, end=position + 1))
            position += 1
    return spans


def phrase_spans(tokenizer: WordTokenizer, text: str) -> list[Span]:
    """Noun-phrase spans of ``text``, each with the token range of its words.

    A caption with no noun phrase (e.g. "running") gets one span over all its tokens, so the
    teacher always has something to attend over. Phrases cut by the context length are shortened;
    phrases entirely past it are dropped.
    """
    words = tokenizer.words(text)
    starts: list[int] = []
    position = 1
    for _, ids in words:
        starts.append(position)
        position += len(ids)
    ends = [s + len(ids) for s, (_, ids) in zip(starts, words, strict=True)]
    limit = _max_position(tokenizer)
    spans: list[Span] = []
    for first, last in chunk_noun_phrases([w for w, _ in words]):
        start, end = starts[first], min(ends[last - 1], limit)
        if start >= end:
            continue
        spans.append(Span(text=" ".join(w for w, _ in words[first:last]), start=start, end=end))
    if not spans and words:
        end = min(ends[-1], limit)
        if end > 1:
            spans.append(Span(text=" ".join(w for w, _ in words), start=1, end=end))
    return spans


def extract_spans(tokenizer: WordTokenizer, text: str, mode: SpanMode) -> list[Span]:
    """Spans of ``text`` in the given mode (``tokens`` or ``phrases``)."""
    if mode == "tokens":
        return token_spans(tokenizer, text)
    if mode == "phrases":
        return phrase_spans(tokenizer, text)
    raise ValueError(f"unknown span mode {mode!r}; expected one of {', '.join(SPAN_MODES)}")


def span_pooling_matrix(spans: Sequence[Span], context_length: int) -> np.ndarray:
    """Matrix ``P`` [len(spans), context_length] so that ``P @ token_states`` gives span vectors.

    Row ``i`` averages the tokens of span ``i`` (weights ``1/length`` on its range), so a token
    span's row is one-hot and a phrase's row is the mean of its tokens. Works for numpy arrays and,
    converted, for torch tensors alike.
    """
    matrix = np.zeros((len(spans), context_length), dtype=np.float32)
    for row, span in enumerate(spans):
        if span.length <= 0 or span.end > context_length:
            raise ValueError(f"span {span} does not fit a context of {context_length} tokens")
        matrix[row, span.start : span.end] = 1.0 / span.length
    return matrix
