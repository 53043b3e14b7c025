"""Attention methods, keyed by name: each turns a photo's region crops and a query into maps.

- ``teacher`` — the bundle's trained DCLIP teacher (``explain/teacher.onnx``): its cross-attention
  per layer and head, on region vectors from the frozen base crop encoder and span vectors pooled
  from the frozen base text tower's token states, exactly the inputs it was trained on. Views:
  one layer, mean of heads or one head, or rollout over layers (:mod:`dclip_core.explain.views`).
- ``similarity`` — training-free, for any bundle (the default CLIP too): each span's text and each
  region's crop embedded with the bundle's own towers, attention = softmax over the cosines at
  CLIP's temperature (1/100). One layer, one head.

A method returns its spans with the maps, and says whether the weights mean anything: a random
model or a teacher whose training the bundle does not record is labelled, never passed off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dclip_core.explain.errors import ExplainError
from dclip_core.explain.models import BundleModels
from dclip_core.explain.query import model_spans
from dclip_core.runtime.encoders import ClipEncoder
from dclip_core.runtime.spans import Span, SpanMode, span_pooling_matrix

# CLIP's trained logit scale is 100: the temperature at which CLIP itself turns cosines into
# probabilities, so similarity attention is as sharp as CLIP's own zero-shot softmax.
SIMILARITY_TEMPERATURE = 0.01


class MethodContext(Protocol):
    """What the explainer gives a method: models, the text read, region vectors, cancel checks."""

    @property
    def models(self) -> BundleModels: ...

    @property
    def model_text(self) -> str: ...

    @property
    def span_mode(self) -> SpanMode | None: ...

    def region_embeddings(self, encoder: ClipEncoder) -> np.ndarray:
        """``[regions, D]`` L2-normalised crop embeddings by ``encoder`` (cached per photo)."""
        ...

    def ran(self, model: str) -> None:
        """Count one run of ``model`` (the explainer's ``model_runs``)."""
        ...

    def check_cancel(self) -> None:
        """Raise ExplainCancelledError when the caller cancelled."""
        ...


@dataclass(frozen=True)
class MethodResult:
    """What a method produced for one photo and query."""

    spans: list[Span]
    span_mode: SpanMode
    text_to_region: np.ndarray
    region_to_text: np.ndarray
    meaningful: bool
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExplainMethod:
    """A registered method: its name, what it is, whether it needs ``explain/``, and its code."""

    name: str
    summary: str
    needs_teacher: bool
    run: Callable[[MethodContext], MethodResult]

    def available(self, models: BundleModels) -> bool:
        return models.has_teacher or not self.needs_teacher


METHODS: dict[str, ExplainMethod] = {}


def register_method(method: ExplainMethod) -> ExplainMethod:
    METHODS[method.name] = method
    return method


def get_method(name: str) -> ExplainMethod:
    """The method called ``name``.

    Raises:
        ExplainError: no such method (lists the known ones).
    """
    try:
        return METHODS[name]
    except KeyError:
        raise ExplainError(
            f"unknown explain method {name!r}; choose one of {', '.join(METHODS)}"
        ) from None


def available_methods(models: BundleModels) -> list[str]:
    """Names of the methods ``models``' bundle can run, the default first."""
    return [m.name for m in METHODS.values() if m.available(models)]


def _softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=axis, keepdims=True)).astype(np.float32)


def run_teacher(ctx: MethodContext) -> MethodResult:
    models = ctx.models
    base = models.base_encoder()
    mode = ctx.span_mode or models.teacher_span_mode
    spans = model_spans(base.tokenizer, ctx.model_text, mode)
    features = (models.explain or {}).get("span_features", "token-states")
    if features == "sentence":
        # Each span's own text as a sentence, L2-normalised (the tower's ``embeddings``), as the
        # training text encoder feeds a teacher trained on sentence span features.
        span_vectors = base.embed_texts([span.text for span in spans])
    elif features == "token-states":
        # The paper's: means of the caption's projected token states over each span's range.
        _, states, _ = base.encode_text_tokens([ctx.model_text])
        span_vectors = span_pooling_matrix(spans, states.shape[1]) @ states[0]
    else:
        raise ExplainError(
            f"the teacher of bundle {models.manifest.name!r} uses span features {features!r}, "
            "which this DCLIP cannot compute; upgrade DCLIP"
        )
    ctx.ran("span_encoder")
    regions = ctx.region_embeddings(base)
    ctx.check_cancel()
    text_to_region, region_to_text = models.run_teacher(span_vectors, regions)
    ctx.ran("teacher")
    caveats: list[str] = []
    if models.manifest.meaningless:
        caveats.append("the bundle's model has random weights: this attention means nothing")
    steps = models.teacher_steps
    if steps is None:
        caveats.append(
            "the bundle does not record the teacher's training: treat this attention as "
            "untrained, not as evidence"
        )
    elif steps <= 0:
        caveats.append("the teacher is untrained (0 steps): this attention means nothing")
    return MethodResult(
        spans=spans,
        span_mode=mode,
        text_to_region=text_to_region,
        region_to_text=region_to_text,
        meaningful=not caveats,
        caveats=tuple(caveats),
    )


def run_similarity(ctx: MethodContext) -> MethodResult:
    encoder = ctx.models.encoder
    mode: SpanMode = ctx.span_mode or "phrases"
    spans = model_spans(encoder.tokenizer, ctx.model_text, mode)
    template = encoder.manifest.text
    # Each span is embedded as a text of its own, worded as the bundle's queries are: a CLIP's
    # sentence embedding is what lives in the image space, not its inner token states.
    texts = [template.query_text(span.text) if span.text else ctx.model_text for span in spans]
    span_vectors = encoder.embed_texts(texts)
    ctx.ran("text_encoder")
    regions = ctx.region_embeddings(encoder)
    cosines = span_vectors @ regions.T
    text_to_region = _softmax(cosines / SIMILARITY_TEMPERATURE, axis=1)
    region_to_text = _softmax(cosines.T / SIMILARITY_TEMPERATURE, axis=1)
    caveats: tuple[str, ...] = ()
    if encoder.manifest.meaningless:
        caveats = ("the bundle's model has random weights: this attention means nothing",)
    return MethodResult(
        spans=spans,
        span_mode=mode,
        text_to_region=text_to_region[None, None],
        region_to_text=region_to_text[None, None],
        meaningful=not caveats,
        caveats=caveats,
    )


register_method(
    ExplainMethod(
        name="teacher",
        summary="the DCLIP teacher's cross-attention (per layer and head, or rollout)",
        needs_teacher=True,
        run=run_teacher,
    )
)
register_method(
    ExplainMethod(
        name="similarity",
        summary="training-free: softmax over cosines of span and crop embeddings (bundle's towers)",
        needs_teacher=False,
        run=run_similarity,
    )
)
