"""Span extraction: token spans as the paper's code, phrase spans mapped to token ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dclip_core.models.clip import create_clip
from dclip_core.models.spans import (
    chunk_noun_phrases,
    phrase_spans,
    span_pooling_matrix,
    token_spans,
)
from dclip_core.models.text_features import FrozenTextEncoder, encode_text_tokens
from dclip_core.runtime.tokenizer import ClipTokenizer


@pytest.fixture(scope="module")
def tokenizer() -> ClipTokenizer:
    return ClipTokenizer(ClipTokenizer.default_vocab_path())


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        (
            "a small red circle left of a large blue star",
            ["a small red circle", "a large blue star"],
        ),
        ("A man riding a horse on the beach.", ["a man", "a horse", "the beach"]),
        ("a building next to two tall trees", ["a building", "two tall trees"]),
        (
            "from left to right: a small red circle, a large blue star and a green cross",
            ["a small red circle", "a large blue star", "a green cross"],
        ),
        ("two dogs playing with a frisbee in the park", ["two dogs", "a frisbee", "the park"]),
    ],
)
def test_phrases_are_the_noun_phrases_of_a_caption(
    tokenizer: ClipTokenizer, caption: str, expected: list[str]
) -> None:
    assert [s.text for s in phrase_spans(tokenizer, caption)] == expected


def test_phrase_token_ranges_decode_back_to_the_phrase(tokenizer: ClipTokenizer) -> None:
    caption = "An unbelievably fluffy dog sleeps beside a skateboard"
    ids = tokenizer([caption])[0]
    spans = phrase_spans(tokenizer, caption)
    assert [s.text for s in spans] == ["an unbelievably fluffy dog", "a skateboard"]
    for span in spans:
        assert tokenizer.decode(ids[span.start : span.end].tolist()).strip() == span.text


def test_token_spans_cover_every_token_between_start_and_end(tokenizer: ClipTokenizer) -> None:
    caption = "a photo of an unbelievablyx dog"
    ids = tokenizer([caption])[0].tolist()
    eot = ids.index(tokenizer.eot_token_id)
    spans = token_spans(tokenizer, caption)
    assert [(s.start, s.end) for s in spans] == [(p, p + 1) for p in range(1, eot)]
    assert "".join(s.text for s in spans[4:8]) == "unbelievablyx"


def test_spans_stop_at_the_context_length() -> None:
    short = ClipTokenizer(ClipTokenizer.default_vocab_path(), context_length=8)
    caption = "a red circle and a blue square and a green star"
    assert [s.end for s in token_spans(short, caption)] == [2, 3, 4, 5, 6, 7]
    phrases = phrase_spans(short, caption)
    assert all(s.end <= 7 for s in phrases)
    assert [s.text for s in phrases][:2] == ["a red circle", "a blue square"]


def test_a_caption_without_noun_phrase_gets_one_span(tokenizer: ClipTokenizer) -> None:
    spans = phrase_spans(tokenizer, "running")
    assert [(s.text, s.start, s.end) for s in spans] == [("running", 1, 2)]
    assert chunk_noun_phrases(["and", "of", "the"]) == []


def test_pooling_matrix_averages_the_tokens_of_each_span(tokenizer: ClipTokenizer) -> None:
    spans = phrase_spans(tokenizer, "a red circle left of a big blue star")
    matrix = span_pooling_matrix(spans, 77)
    states = np.random.default_rng(0).normal(size=(77, 5)).astype(np.float32)
    pooled = matrix @ states
    for row, span in enumerate(spans):
        np.testing.assert_allclose(pooled[row], states[span.start : span.end].mean(0), rtol=1e-5)


def test_frozen_text_encoder_matches_open_clip(tokenizer: ClipTokenizer) -> None:
    model = create_clip("test-tiny")
    captions = ["a small red circle left of a large blue star", "a dog", ""]
    encoder = FrozenTextEncoder(model, tokenizer, "phrases")
    features = encoder.encode(captions)
    with torch.no_grad():
        expected = model.encode_text(features.input_ids)
        _, tokens = encode_text_tokens(model, features.input_ids)
    torch.testing.assert_close(features.sentence, expected)
    assert features.span_mask.tolist() == [[True, True], [True, False], [True, False]]
    first = features.span_lists[0][1]
    torch.testing.assert_close(features.spans[0, 1], tokens[0, first.start : first.end].mean(0))
    # the empty caption attends over its end token
    assert features.span_lists[2][0].start == 1
    assert torch.all(features.spans[1, 1] == 0)

    token_features = FrozenTextEncoder(model, tokenizer, "tokens").encode(captions[:1])
    n_tokens = int((token_features.input_ids[0] != 0).sum()) - 2
    assert token_features.spans.shape[1] == n_tokens
    torch.testing.assert_close(token_features.spans[0], tokens[0, 1 : 1 + n_tokens])


def test_sentence_span_features_encode_each_span_as_its_own_caption(
    tokenizer: ClipTokenizer,
) -> None:
    model = create_clip("test-tiny")
    captions = ["a small red circle left of a large blue star", "a dog"]
    features = FrozenTextEncoder(model, tokenizer, "phrases", "sentence").encode(captions)
    pooled = FrozenTextEncoder(model, tokenizer, "phrases").encode(captions)
    texts = ["a small red circle", "a large blue star", "a dog"]
    with torch.no_grad():
        expected = model.encode_text(torch.from_numpy(tokenizer(texts)), normalize=True)
    torch.testing.assert_close(features.spans[0], expected[:2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(features.spans[1, 0], expected[2], atol=1e-5, rtol=1e-5)
    assert torch.all(features.spans[1, 1] == 0)
    # Same spans, same sentence target: only the span vectors differ.
    assert features.span_lists == pooled.span_lists
    torch.testing.assert_close(features.sentence, pooled.sentence)
    assert not torch.allclose(features.spans[0], pooled.spans[0])


def test_a_saved_teacher_says_which_span_features_it_was_fed(tokenizer: ClipTokenizer) -> None:
    model = create_clip("test-tiny")
    old = FrozenTextEncoder.for_teacher(model, tokenizer, {})
    assert (old.span_mode, old.span_features) == ("tokens", "token-states")
    new = FrozenTextEncoder.for_teacher(
        model, tokenizer, {"span_mode": "phrases", "span_features": "sentence"}
    )
    assert (new.span_mode, new.span_features) == ("phrases", "sentence")
    with pytest.raises(ValueError, match="span features"):
        FrozenTextEncoder(model, tokenizer, "phrases", "words")  # type: ignore[arg-type]
