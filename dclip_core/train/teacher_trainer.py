"""Stage 1: train the cross-modal teacher on frozen CLIP features (``dclip train-teacher``).

Per step: regions of each image come from the region cache (frozen crop embeddings), spans and
the sentence embedding of the drawn caption from the frozen text tower; only the teacher learns,
with symmetric InfoNCE (τ = 0.05) between its global embedding and the sentence embedding — and,
with the recipe's ``grounding`` on (not in the paper, docs/adr/0017), a term that makes each
span's attention point at the region it names (:func:`~dclip_core.train.losses.grounding_loss`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import open_clip
import torch
from torch import nn

from dclip_core.cancel import CancelToken
from dclip_core.models.clip import create_clip
from dclip_core.models.registry import get_model_spec
from dclip_core.models.spans import Span
from dclip_core.models.teacher import CrossModalTeacher, save_teacher
from dclip_core.models.text_features import FrozenTextEncoder
from dclip_core.runtime.tokenizer import ClipTokenizer
from dclip_core.train.batching import CaptionedRecord, Example
from dclip_core.train.distributed import DistContext, init_distributed
from dclip_core.train.events import EventSink
from dclip_core.train.loop import TrainingResult
from dclip_core.train.losses import (
    NO_LINK,
    GroundingKind,
    LossTerms,
    grounding_loss,
    teacher_loss,
)
from dclip_core.train.recipes import Recipe, get_recipe
from dclip_core.train.runs import start_or_resume
from dclip_core.train.stage import StageResult, run_stage

TEACHER_FILE = "teacher.safetensors"


class RegionEmbeddings(Protocol):
    @property
    def embeddings(self) -> torch.Tensor: ...

    @property
    def labels(self) -> tuple[str, ...]: ...


class RegionLookup(Protocol):
    """The region cache as the trainers use it (``RegionCache`` of dclip_core.train.regions)."""

    def get(self, image_path: Path, gt_boxes: Any = None) -> RegionEmbeddings: ...


def pad_regions(
    regions: Sequence[torch.Tensor], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack per-image region embeddings [Nr_i, D] into [B, max Nr, D] with a validity mask."""
    size = max(r.shape[0] for r in regions)
    dim = regions[0].shape[1]
    out = torch.zeros(len(regions), size, dim, device=device)
    mask = torch.zeros(len(regions), size, dtype=torch.bool, device=device)
    for i, r in enumerate(regions):
        out[i, : r.shape[0]] = r.to(device=device, dtype=out.dtype)
        mask[i, : r.shape[0]] = True
    return out, mask


def region_batch(
    lookup: RegionLookup, examples: Sequence[Example], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Regions of a micro-batch's images, padded, from the cache."""
    found = [
        lookup.get(e.record.path, getattr(e.record, "boxes", None)).embeddings for e in examples
    ]
    return pad_regions(found, device)


def span_region_links(
    span_lists: Sequence[Sequence[Span]], region_labels: Sequence[Sequence[str]], width: int
) -> torch.Tensor:
    """[B, width] the region each span names according to the box labels, or ``NO_LINK``.

    A span names a region when every word of the region's label is one of the span's words
    ("a small red circle" names a box labelled "red circle"); a span that names no region, or
    more than one (two red circles), stays unlinked. Detector boxes whose label is a class no
    caption uses ("shape") link nothing, so this is supervision only where annotations allow it.
    """
    links = torch.full((len(span_lists), width), NO_LINK, dtype=torch.long)
    for i, (spans, labels) in enumerate(zip(span_lists, region_labels, strict=True)):
        label_words = [frozenset(label.lower().split()) for label in labels]
        for t, span in enumerate(spans):
            words = frozenset(span.text.lower().split())
            named = [r for r, lw in enumerate(label_words) if lw and lw <= words]
            if len(named) == 1:
                links[i, t] = named[0]
    return links


def teacher_for(base: open_clip.CLIP, recipe: Recipe) -> CrossModalTeacher:
    """A fresh teacher sized for ``base`` (its joint embedding width), seeded by the recipe."""
    dim = int(base.text_projection.shape[1])
    t = recipe.teacher
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        return CrossModalTeacher(
            dim,
            heads=t.heads,
            layers=t.layers,
            ffn=t.ffn,
            paper_compat=t.paper_compat,
            pool_temperature=t.pool_temperature,
            target=t.target,
        )


class TeacherTask:
    """The teacher stage for :class:`~dclip_core.train.loop.TrainingLoop`."""

    stage = "teacher"

    def __init__(
        self,
        teacher: CrossModalTeacher,
        text_encoder: FrozenTextEncoder,
        regions: RegionLookup,
        temperature: float,
        device: torch.device,
        grounding: GroundingKind = "none",
        grounding_weight: float = 1.0,
    ) -> None:
        self.teacher = teacher
        self.text_encoder = text_encoder
        self.regions = regions
        self.temperature = temperature
        self.device = device
        self.grounding = grounding
        self.grounding_weight = grounding_weight

    def train_module(self) -> nn.Module:
        return self.teacher

    def compute_loss(self, module: nn.Module, examples: Sequence[Example]) -> LossTerms:
        text = self.text_encoder.encode([e.caption for e in examples])
        found = [
            self.regions.get(e.record.path, getattr(e.record, "boxes", None)) for e in examples
        ]
        regions, region_mask = pad_regions([r.embeddings for r in found], self.device)
        if self.grounding == "none":
            out = module(text.spans, text.span_mask, regions, region_mask)
            return teacher_loss(out.global_embedding, text.sentence, self.temperature)
        out = module(text.spans, text.span_mask, regions, region_mask, pairwise=True)
        links = None
        if self.grounding == "linked":
            width = text.span_mask.shape[1]
            links = span_region_links(text.span_lists, [r.labels for r in found], width)
        assert out.pair_logits is not None  # asked for with pairwise=True
        terms = grounding_loss(out.pair_logits, text.span_mask, links)
        return teacher_loss(
            out.global_embedding,
            text.sentence,
            self.temperature,
            grounding=terms,
            grounding_weight=self.grounding_weight,
        )

    def checkpoint_weights(self) -> dict[str, torch.Tensor]:
        return dict(self.teacher.state_dict())

    def load_checkpoint_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.teacher.load_state_dict(weights, strict=True)


def train_teacher(
    records: Sequence[CaptionedRecord],
    *,
    model: str,
    regions: RegionLookup,
    run_dir: Path,
    recipe: Recipe | None = None,
    events: EventSink | None = None,
    ctx: DistContext | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    cancel: CancelToken | None = None,
    data_summary: dict[str, Any] | None = None,
) -> StageResult:
    """Train (or resume training) a teacher; the result is ``<run_dir>/teacher.safetensors``.

    Args:
        records: captioned training images (a 90/10 train/val split is taken from them).
        model: the base CLIP model name; region embeddings must come from the same model.
        regions: the region cache of that model.
        run_dir: checkpoints and the final teacher go here.
        recipe: values of the run (``paper`` by default); ignored when resuming.
        events: progress sink; text on stderr by default.
        ctx: distributed context (joins torchrun when launched by it, by default).
        resume: continue the run in ``run_dir`` from its latest checkpoint.
        max_steps: stop after this many optimizer steps (benchmarks, smoke runs).
        cancel: stops the run after the current step, checkpointed, like SIGINT.
        data_summary: what the data was, recorded in ``run.json``.

    Raises:
        TrainingError: a run that cannot start (nothing to resume, other dataset) or that had to
            stop (non-finite loss).
    """

    ctx = ctx or init_distributed()
    events = events or EventSink("text", enabled=ctx.is_main)
    run = start_or_resume(
        run_dir,
        "teacher",
        num_records=len(records),
        resume=resume,
        recipe=recipe or get_recipe("paper"),
        model=model,
        is_main=ctx.is_main,
        data_summary=data_summary,
    )
    recipe, model = run.recipe, run.model
    base = create_clip(model).to(ctx.device).requires_grad_(False)
    spec = get_model_spec(model)
    tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), spec.context_length)
    text_encoder = FrozenTextEncoder(
        base, tokenizer, recipe.teacher.span_mode, recipe.teacher.span_features
    )
    teacher = teacher_for(base, recipe)
    task = TeacherTask(
        teacher,
        text_encoder,
        regions,
        recipe.teacher.temperature,
        ctx.device,
        grounding=recipe.teacher.grounding,
        grounding_weight=recipe.teacher.grounding_weight,
    )

    def save(result: TrainingResult) -> Path:
        output = run_dir / TEACHER_FILE
        save_teacher(
            output,
            teacher,
            base_model=model,
            extra={
                "recipe": recipe.to_json(),
                "val_history": result.val_history,
                "steps": result.position.step,
                "span_mode": recipe.teacher.span_mode,
                "span_features": recipe.teacher.span_features,
                "grounding": recipe.teacher.grounding,
            },
        )
        return output

    return run_stage(
        "teacher",
        task,
        records,
        recipe=recipe,
        run_dir=run_dir,
        checkpoint=run.checkpoint,
        events=events,
        ctx=ctx,
        meta={"model": model, "recipe": recipe.name},
        save=save,
        max_steps=max_steps,
        cancel=cancel,
    )
