"""Frozen CLIP text features the teacher needs: sentence embeddings and span embeddings (torch).

The text tower is run once per caption batch and two things are read from it:

- the sentence embedding, exactly ``model.encode_text`` (end-token state, projected) — the
  teacher's InfoNCE target and the student's text anchor;
- every token's final state (after ``ln_final``) passed through ``text_projection`` — the paper's
  token spans, pooled into phrase spans on demand (:mod:`dclip_core.models.spans`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import open_clip
import torch

from dclip_core.models.spans import Span, SpanMode, extract_spans, span_pooling_matrix
from dclip_core.runtime.tokenizer import ClipTokenizer


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
    """

    def __init__(
        self, model: open_clip.CLIP, tokenizer: ClipTokenizer, span_mode: SpanMode
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.span_mode = span_mode

    @torch.no_grad()
    def encode(self, captions: Sequence[str]) -> TextFeatures:
        """Features of ``captions``; a caption without any span gets one over its end token."""
        device = next(self.model.parameters()).device
        ids = torch.from_numpy(self.tokenizer(list(captions))).to(device)
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
        span_vectors = torch.from_numpy(pooling).to(device=device, dtype=tokens.dtype) @ tokens
        return TextFeatures(
            sentence=sentence,
            spans=span_vectors,
            span_mask=mask,
            span_lists=span_lists,
            input_ids=ids,
        )
