"""Frozen CLIP text features the teacher needs: sentence embeddings and span embeddings (torch).

The text tower is run once per caption batch and two things are read from it:

- the sentence embedding, exactly ``model.encode_text`` (end-token state, projected) — the
  teacher's InfoNCE target and the student's text anchor;
- every token's final state (after ``ln_final``) passed through ``text_projection`` — the paper's
  token spans, pooled into phrase spans on demand (:mod:`dclip_core.models.spans`).

Span vectors come in two kinds (``SpanFeatures``):

- ``token-states`` (the paper's code): the pooled token states above. A token state sees the
  words before it through the causal mask and was never trained to sit in the joint space on its
  own: on the shapes world a phrase's pooled states match its object's crop only half the time;
- ``sentence`` (docs/adr/0017): each span's *text* encoded again as a short sentence of its own,
  the vector base CLIP was trained to put next to an image of it (the same phrase matches its crop
  99 % of the time). L2-normalised, like the regions' crop embeddings — and like the exported
  text tower's ``embeddings`` output, which is how the explain runtime computes it for each
  span's text (docs/adr/0017).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import open_clip
import torch

from dclip_core.models.spans import Span, SpanMode, extract_spans, span_pooling_matrix
from dclip_core.runtime.tokenizer import ClipTokenizer

SpanFeatures = Literal["token-states", "sentence"]
SPAN_FEATURES: tuple[SpanFeatures, ...] = ("token-states", "sentence")


def encode_text_tokens(
    model: open_clip.CLIP, input_ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the text tower once and return ``(sentence [B,D], token_states [B,L',D])``.

    Both are projected into the joint space and not normalised; ``sentence`` equals
    ``model.encode_text(input_ids)``. The causal mask means no token sees the padding after the
    end token, so the tower runs only up to the longest caption of the batch (``L'`` positions):
    the same states, several times faster than the full context for captions.
    """
    length = int(input_ids.argmax(dim=-1).max()) + 1
    ids = input_ids[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(ids).to(cast_dtype)
    x = x + model.positional_embedding[:length].to(cast_dtype)
    mask = model.attn_mask[:length, :length] if model.attn_mask is not None else None
    x = model.transformer(x, attn_mask=mask)
    x = model.ln_final(x)
    projection = model.text_projection
    if isinstance(projection, torch.nn.Linear):
        tokens = projection(x)
    elif projection is not None:
        tokens = x @ projection
    else:
        tokens = x
    # CLIP pools at the end token, which has the highest id in each row.
    sentence = tokens[torch.arange(tokens.shape[0], device=tokens.device), ids.argmax(dim=-1)]
    return sentence, tokens


@dataclass
class TextFeatures:
    """Frozen text features of a batch of captions.

    Attributes:
        sentence: [B,D] CLIP sentence embeddings (not normalised).
        spans: [B,Ns,D] span embeddings, zero-padded to the longest caption of the batch.
        span_mask: [B,Ns] bool, True for real spans.
        span_lists: the spans of each caption (text and token range).
        input_ids: [B,L] the token ids the text tower saw.
    """

    sentence: torch.Tensor
    spans: torch.Tensor
    span_mask: torch.Tensor
    span_lists: list[list[Span]]
    input_ids: torch.Tensor


class FrozenTextEncoder:
    """Sentence and span features from a frozen CLIP text tower.

    Args:
        model: the base CLIP (its text tower is used under ``no_grad``).
        tokenizer: the CLIP tokenizer (same ids as open_clip's).
        span_mode: ``tokens`` (the paper's code) or ``phrases``.
        span_features: ``token-states`` (the paper's code) or ``sentence`` (see the module
            docstring).
    """

    def __init__(
        self,
        model: open_clip.CLIP,
        tokenizer: ClipTokenizer,
        span_mode: SpanMode,
        span_features: SpanFeatures = "token-states",
    ) -> None:
        if span_features not in SPAN_FEATURES:
            raise ValueError(
                f"unknown span features {span_features!r}; expected one of "
                f"{', '.join(SPAN_FEATURES)}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.span_mode = span_mode
        self.span_features = span_features

    @classmethod
    def for_teacher(
        cls, model: open_clip.CLIP, tokenizer: ClipTokenizer, extra: dict[str, Any]
    ) -> FrozenTextEncoder:
        """The encoder that gives the span features a saved teacher was trained on.

        Args:
            extra: the teacher file's ``extra`` metadata (``span_mode``, ``span_features``);
                teachers saved before ``span_features`` existed used token states.
        """
        return cls(
            model,
            tokenizer,
            extra.get("span_mode", "tokens"),
            extra.get("span_features", "token-states"),
        )

    def token_ids(self, texts: Sequence[str]) -> torch.Tensor:
        """[B, context] token ids of ``texts`` on the model's device."""
        device = next(self.model.parameters()).device
        return torch.from_numpy(self.tokenizer(list(texts))).to(device)

    @torch.no_grad()
    def sentences(self, texts: Sequence[str]) -> torch.Tensor:
        """[B, D] sentence embeddings of ``texts`` alone (no spans)."""
        return encode_text_tokens(self.model, self.token_ids(texts))[0]

    @torch.no_grad()
    def encode(self, captions: Sequence[str]) -> TextFeatures:
        """Features of ``captions``; a caption without any span gets one over its end token."""
        device = next(self.model.parameters()).device
        ids = self.token_ids(captions)
        sentence, tokens = encode_text_tokens(self.model, ids)
        context = tokens.shape[1]
        span_lists: list[list[Span]] = []
        for caption, row in zip(captions, ids.tolist(), strict=True):
            spans = extract_spans(self.tokenizer, caption, self.span_mode)
            if not spans:
                # An empty caption still has an end token; let the teacher attend over it.
                eot = row.index(max(row))
                spans = [Span(text="", start=eot, end=eot + 1)]
            span_lists.append(spans)
        width = max(len(s) for s in span_lists)
        pooling = np.zeros((len(captions), width, context), dtype=np.float32)
        mask = torch.zeros(len(captions), width, dtype=torch.bool, device=device)
        for i, spans in enumerate(span_lists):
            pooling[i, : len(spans)] = span_pooling_matrix(spans, context)
            mask[i, : len(spans)] = True
        if self.span_features == "sentence":
            span_vectors = self._sentence_spans(span_lists, width, tokens.dtype)
        else:
            span_vectors = torch.from_numpy(pooling).to(device=device, dtype=tokens.dtype) @ tokens
        return TextFeatures(
            sentence=sentence,
            spans=span_vectors,
            span_mask=mask,
            span_lists=span_lists,
            input_ids=ids,
        )

    def _sentence_spans(
        self, span_lists: list[list[Span]], width: int, dtype: torch.dtype
    ) -> torch.Tensor:
        """[B, width, D]: each span's text through the text tower as a sentence, L2-normalised,
        zero-padded.

        A span without text (the end-token fallback of an empty caption) is encoded as the empty
        string, i.e. start and end tokens only.
        """
        texts = [span.text for spans in span_lists for span in spans]
        vectors = torch.nn.functional.normalize(self.sentences(texts), dim=-1)
        out = torch.zeros(
            len(span_lists), width, vectors.shape[-1], device=vectors.device, dtype=dtype
        )
        row = 0
        for i, spans in enumerate(span_lists):
            out[i, : len(spans)] = vectors[row : row + len(spans)].to(dtype)
            row += len(spans)
        return out
