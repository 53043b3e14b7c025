"""What the shapes benchmark measures on a model: retrieval, hard negatives, zero-shot crops.

All three run on the world's held-out parts (``test/`` and ``zeroshot/``) through the evaluation
code every ``dclip eval`` uses (:mod:`dclip_core.eval`); only the hard-negative check is specific to
this world, because only here is a caption known to differ from the truth in exactly one binding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dclip_core.eval.embedders import Embedder
from dclip_core.eval.tasks import ClassFolderDataset, evaluate_retrieval, evaluate_zero_shot
from dclip_core.shapes.scenes import describe
from dclip_core.shapes.world import ShapesWorld, scenes_by_file, shapes_records

# The world's own wording: class prompts read like its captions ("a red circle").
ZERO_SHOT_TEMPLATES = ("a {}",)


@dataclass(frozen=True)
class WorldScores:
    """One model's scores on a world (fractions in [0, 1])."""

    t2i_r1: float
    t2i_r5: float
    t2i_r10: float
    i2t_r1: float
    i2t_r5: float
    i2t_r10: float
    hard_negative_accuracy: float
    zero_shot_top1: float
    zero_shot_top5: float

    def to_json(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def hard_negative_accuracy(embedder: Embedder, world: ShapesWorld) -> float:
    """Share of test scenes whose true caption scores above its one-binding hard negative.

    The true caption is written in the hard negative's own style (``describe(…, style=0)``), so
    the two differ only in the swapped binding.
    """
    scenes = [s for s in scenes_by_file(world.test_dir).values() if s.hard_negative]
    if not scenes:
        return float("nan")
    images = embedder.embed_images([world.test_dir / s.file for s in scenes])
    truth = embedder.embed_texts([describe(s.objects, style=0) for s in scenes])
    negatives = embedder.embed_texts([s.hard_negative or "" for s in scenes])
    return float(np.mean((images * truth).sum(1) > (images * negatives).sum(1)))


def score_model(embedder: Embedder, world: ShapesWorld) -> WorldScores:
    """Retrieval R@1/5/10 both ways, hard-negative accuracy and zero-shot accuracy on crops."""
    retrieval = evaluate_retrieval(embedder, shapes_records(world.test_dir))
    zero_shot = evaluate_zero_shot(
        embedder, ClassFolderDataset.read(world.zeroshot_dir), ZERO_SHOT_TEMPLATES
    )
    t2i, i2t = retrieval.text_to_image, retrieval.image_to_text
    return WorldScores(
        t2i_r1=t2i.recall_at_1,
        t2i_r5=t2i.recall_at_5,
        t2i_r10=t2i.recall_at_10,
        i2t_r1=i2t.recall_at_1,
        i2t_r5=i2t.recall_at_5,
        i2t_r10=i2t.recall_at_10,
        hard_negative_accuracy=hard_negative_accuracy(embedder, world),
        zero_shot_top1=zero_shot.top1,
        zero_shot_top5=zero_shot.top5,
    )


def summarise(runs: list[WorldScores]) -> dict[str, dict[str, Any]]:
    """Mean, sample standard deviation and per-seed values of every score over seeds."""
    out: dict[str, dict[str, Any]] = {}
    for key in runs[0].to_json():
        values = np.array([getattr(r, key) for r in runs], dtype=np.float64)
        out[key] = {
            "mean": round(float(values.mean()), 4),
            "std": round(float(values.std(ddof=1)), 4) if len(values) > 1 else 0.0,
            "values": [round(float(v), 4) for v in values],
        }
    return out


def teacher_diagnostics(
    teacher_path: Path, base: Any, regions: Any, world: ShapesWorld
) -> dict[str, float]:
    """How much image information the teacher's target carries, on test scenes.

    For each test scene with a hard negative, the teacher fuses the scene's regions once with the
    true caption and once with the hard negative. Returns:

    - ``teacher_hard_negative_accuracy``: share of scenes where ``cos(g, sentence)`` — the score the
      teacher was trained to raise — is higher for the true caption than for the hard negative
      (0.5 = the target cannot tell them apart, so it cannot teach the binding);
    - ``target_true_caption``: mean ``cos(g_true, sentence_true)``;
    - ``target_wrong_caption``: mean ``cos(g_negative, sentence_negative)`` — how well a *wrong*
      caption's target matches that wrong caption; close to the true-caption value means the
      target follows whatever caption it is given (caption leakage), not the image.

    Args:
        teacher_path: a trained teacher file.
        base: the frozen base CLIP (text features).
        regions: the region cache of ``base`` (ground-truth boxes).
    """
    import torch

    from dclip_core.models.teacher import load_teacher
    from dclip_core.models.text_features import FrozenTextEncoder
    from dclip_core.runtime.tokenizer import ClipTokenizer
    from dclip_core.shapes.world import shapes_records
    from dclip_core.train.teacher_trainer import pad_regions

    loaded = load_teacher(teacher_path)
    span_mode = loaded.extra.get("span_mode", "tokens")
    context = int(base.positional_embedding.shape[0])
    tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), context)
    text_encoder = FrozenTextEncoder(base, tokenizer, span_mode)
    scenes = scenes_by_file(world.test_dir)
    records = [r for r in shapes_records(world.test_dir) if scenes[r.path.name].hard_negative]
    region_rows = [regions.get(r.path, r.boxes).embeddings for r in records]
    region_batch, region_mask = pad_regions(region_rows, torch.device("cpu"))
    out: dict[str, list[float]] = {"true": [], "negative": []}
    for kind in out:
        captions = [
            describe(scenes[r.path.name].objects, style=0)
            if kind == "true"
            else scenes[r.path.name].hard_negative or ""
            for r in records
        ]
        text = text_encoder.encode(captions)
        with torch.no_grad():
            g = loaded.teacher(text.spans, text.span_mask, region_batch, region_mask)
        cos = torch.nn.functional.cosine_similarity(g.global_embedding, text.sentence, dim=-1)
        out[kind] = cos.tolist()
    true, negative = np.array(out["true"]), np.array(out["negative"])
    return {
        "teacher_hard_negative_accuracy": round(float(np.mean(true > negative)), 4),
        "target_true_caption": round(float(true.mean()), 4),
        "target_wrong_caption": round(float(negative.mean()), 4),
    }
