"""What the shapes benchmark measures on a model: retrieval, hard negatives, zero-shot crops.

All three run on the world's held-out parts (``test/`` and ``zeroshot/``) through the evaluation
code every ``dclip eval`` uses (:mod:`dclip_core.eval`); only the hard-negative check is specific to
this world, because only here is a caption known to differ from the truth in exactly one binding.

Teachers get two checks of their own: :func:`teacher_diagnostics` (does the target carry the
image, or the caption?) and :func:`pointing_game` (does a span's attention point at the object it
names? docs/adr/0017-grounded-teacher.md).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dclip_core.eval.embedders import Embedder
from dclip_core.eval.tasks import ClassFolderDataset, evaluate_retrieval, evaluate_zero_shot
from dclip_core.shapes.scenes import describe
from dclip_core.shapes.world import ShapesWorld, scenes_by_file, shapes_records
from dclip_core.train.datasets import BoxLabel

if TYPE_CHECKING:
    import open_clip

    from dclip_core.models.teacher import CrossModalTeacher
    from dclip_core.models.text_features import FrozenTextEncoder

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
    context = int(base.positional_embedding.shape[0])
    tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), context)
    text_encoder = FrozenTextEncoder.for_teacher(base, tokenizer, loaded.extra)
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


# Scenes of the pointing game (the measurement: 200 test scenes).
POINTING_SCENES = 200


@dataclass(frozen=True)
class PointingCase:
    """One pointing-game question: a scene, its boxes as regions, a caption naming two objects.

    Attributes:
        path: the scene's image.
        boxes: its ground-truth boxes, in the order the regions are made from them.
        caption: e.g. ``"a red circle and a blue square"``.
        phrases: the two object phrases of the caption, in caption order.
        targets: the box index of the object each phrase names.
    """

    path: Path
    boxes: tuple[BoxLabel, ...]
    caption: str
    phrases: tuple[str, str]
    targets: tuple[int, int]


def pointing_cases(
    folder: Path, count: int = POINTING_SCENES, seed: int = 0, whole_photo: bool = False
) -> list[PointingCase]:
    """Pointing-game questions on the scenes of ``folder`` (seeded, the first ``count`` usable).

    A scene is usable when two of its objects have a colour-shape pair no other object of the
    scene has, so that "a red circle" names exactly one box. Two such objects are drawn and named
    in random order, each as ``"a {colour} {shape}"``.

    Args:
        whole_photo: put the whole photo first among the regions, as the explain runtime does
            (a region that holds every object, and the answer to none).
    """
    rng = random.Random(seed)
    sizes = {name: scene.image_size for name, scene in scenes_by_file(folder).items()}
    cases: list[PointingCase] = []
    for record in shapes_records(folder):
        if len(cases) >= count:
            break
        if record.boxes is None or any(c.path == record.path for c in cases):
            continue
        labels = [b.label for b in record.boxes]
        unique = [i for i, label in enumerate(labels) if labels.count(label) == 1]
        if len(unique) < 2:
            continue
        first, second = rng.sample(unique, 2)
        phrases = (f"a {labels[first]}", f"a {labels[second]}")
        boxes = tuple(record.boxes)
        if whole_photo:
            size = float(sizes[record.path.name])
            boxes = (BoxLabel(0.0, 0.0, size, size, "photo"), *boxes)
            first, second = first + 1, second + 1
        cases.append(
            PointingCase(
                path=record.path,
                boxes=boxes,
                caption=f"{phrases[0]} and {phrases[1]}",
                phrases=phrases,
                targets=(first, second),
            )
        )
    return cases


@dataclass(frozen=True)
class PointingScores:
    """Pointing-game results (fractions of the named objects found, in [0, 1]).

    Attributes:
        attention: the region with the highest text→region attention (mean over layers and heads;
            mean over a phrase's spans) holds the object the phrase names.
        span_vector: the same question asked of the span vectors the teacher is fed (cosine to
            each region's crop embedding): are the spans in the space the regions live in?
        similarity: the training-free answer — the phrase encoded as a sentence by the base model,
            cosine to each crop; the bar to approach.
        random: what a uniformly random region scores (mean of 1 / regions).
        attention_tv: mean total-variation distance between the two phrases' attention maps of a
            caption (0: both look at the same thing — a per-region prior, not localisation).
        attention_mass: mean attention a phrase gives the region it names (1 / regions for a
            flat map, 1 for a map a visualizer paints on that object alone).
        cases: scenes asked.
    """

    attention: float
    span_vector: float
    similarity: float
    random: float
    attention_tv: float
    attention_mass: float
    cases: int

    def to_json(self) -> dict[str, float]:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def pointing_game(
    teacher: CrossModalTeacher,
    text_encoder: FrozenTextEncoder,
    base: open_clip.CLIP,
    regions: Any,
    cases: Sequence[PointingCase],
) -> PointingScores:
    """Ask ``teacher`` where each phrase of each case is (see :class:`PointingScores`).

    Args:
        teacher: the teacher (any mode; run without gradients).
        text_encoder: gives the span features the teacher was trained on
            (:meth:`FrozenTextEncoder.for_teacher`).
        base: the frozen base CLIP the regions and spans come from.
        regions: the region cache of ``base`` (boxes as regions: ``source="gt"``).
        cases: from :func:`pointing_cases`.
    """
    import torch

    from dclip_core.models.spans import phrase_spans
    from dclip_core.train.teacher_trainer import pad_regions

    rows = [regions.get(c.path, list(c.boxes)).embeddings for c in cases]
    region_batch, region_mask = pad_regions(rows, torch.device("cpu"))
    text = text_encoder.encode([c.caption for c in cases])
    phrase_ids = torch.from_numpy(text_encoder.tokenizer([p for c in cases for p in c.phrases]))
    was_training = teacher.training
    teacher.eval()
    with torch.no_grad():
        out = teacher(text.spans, text.span_mask, region_batch, region_mask)
        phrase_vectors = torch.nn.functional.normalize(
            base.encode_text(phrase_ids).float(), dim=-1
        ).view(len(cases), 2, -1)
    teacher.train(was_training)
    attention = out.text_to_region.mean(dim=(1, 2))  # [B, Nt, Nr]
    hits = {"attention": 0, "span_vector": 0, "similarity": 0}
    chance, mass, distances = 0.0, 0.0, []
    for i, case in enumerate(cases):
        n_regions = len(rows[i])
        crops = torch.nn.functional.normalize(region_batch[i, :n_regions], dim=-1)
        spans = text.span_lists[i]
        maps = []
        for k, phrase in enumerate(phrase_spans(text_encoder.tokenizer, case.caption)[:2]):
            members = [
                t for t, s in enumerate(spans) if s.start < phrase.end and s.end > phrase.start
            ]
            heat = attention[i, members, :n_regions].mean(0)
            maps.append(heat)
            vector = text.spans[i, members].mean(0)
            target = case.targets[k]
            hits["attention"] += int(heat.argmax()) == target
            hits["span_vector"] += int((crops @ vector).argmax()) == target
            hits["similarity"] += int((crops @ phrase_vectors[i, k]).argmax()) == target
            chance += 1.0 / n_regions
            mass += float(heat[target])
        distances.append(0.5 * float((maps[0] - maps[1]).abs().sum()))
    asked = 2 * len(cases)
    return PointingScores(
        attention=hits["attention"] / asked,
        span_vector=hits["span_vector"] / asked,
        similarity=hits["similarity"] / asked,
        random=chance / asked,
        attention_tv=float(np.mean(distances)),
        attention_mass=mass / asked,
        cases=len(cases),
    )


def teacher_pointing(
    teacher_path: Path,
    base: Any,
    regions: Any,
    world: ShapesWorld,
    count: int = POINTING_SCENES,
    whole_photo: bool = False,
) -> PointingScores:
    """:func:`pointing_game` of a saved teacher on ``count`` test scenes of ``world``."""
    from dclip_core.models.teacher import load_teacher
    from dclip_core.models.text_features import FrozenTextEncoder
    from dclip_core.runtime.tokenizer import ClipTokenizer

    loaded = load_teacher(teacher_path)
    context = int(base.positional_embedding.shape[0])
    tokenizer = ClipTokenizer(ClipTokenizer.default_vocab_path(), context)
    text_encoder = FrozenTextEncoder.for_teacher(base, tokenizer, loaded.extra)
    cases = pointing_cases(world.test_dir, count, whole_photo=whole_photo)
    return pointing_game(loaded.teacher, text_encoder, base, regions, cases)
