"""``dclip bench shapes``: does DCLIP beat plain fine-tuning, in a world where we know the truth?

1. A small CLIP (``shapes-tiny``) is pretrained from scratch on bag-of-objects captions — the
   stand-in for base CLIP (:mod:`dclip_core.shapes.pretrain`).
2. It is fine-tuned four ways on the same relational-caption set, with the same steps, batch size,
   learning rate, trainable parameters and seed: ``plain`` (the hybrid loss with only its
   contrastive term), ``dclip-phrases`` (teacher on ground-truth regions + phrase spans, then the
   full hybrid loss), ``dclip-tokens`` (the same with per-token spans, as the paper's code) and
   ``dclip-regions`` (phrase spans, but the teacher's target pools its attended regions only —
   our change against caption leakage, not the paper's) and ``dclip-grounded`` (phrase spans
   encoded as sentences, plus the weakly supervised grounding term: docs/adr/0017). Each teacher
   also plays the pointing game (:func:`~dclip_core.shapes.evaluation.pointing_game`) on the
   test scenes' boxes. ``--methods`` runs a subset. Regions come from the world's boxes, or
   (``--detector yolo``) from a YOLOv8n trained on them first
   (:mod:`dclip_core.shapes.detector`), the paper's path.
3. Base and every fine-tune are scored on held-out scenes (:mod:`dclip_core.shapes.evaluation`);
   each seed re-runs step 2 (the base model is shared, pretrained once per world and cached).

Everything goes through the method's own entry points (``train_teacher``, ``train_student``,
``RegionCache``); see docs/adr/0007-shapes-world.md for the design of the world split.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dclip_core.bench import benchmark
from dclip_core.config.paths import get_paths
from dclip_core.shapes.world import PRETRAIN_STEPS, WorldSize

# Teachers trained per seed: name -> the teacher recipe values that differ from the paper's.
TEACHERS: dict[str, dict[str, str]] = {
    "phrases": {"span_mode": "phrases"},
    "tokens": {"span_mode": "tokens"},
    "regions": {"span_mode": "phrases", "target": "regions"},
    # docs/adr/0017: spans in the crops' space, attention trained to point (no boxes needed).
    "grounded": {"span_mode": "phrases", "span_features": "sentence", "grounding": "contrastive"},
}
# Fine-tunes per seed -> the teacher they distil (plain trains none of it: its weights are 0).
METHODS: dict[str, str] = {
    "plain": "phrases",
    "dclip-phrases": "phrases",
    "dclip-tokens": "tokens",
    "dclip-regions": "regions",
    "dclip-grounded": "grounded",
}
# Loss weights that differ from the recipe's (1/1/1). Plain fine-tuning is the same loss function
# with the teacher's pull and the text anchor switched off, so everything else (params, optimiser,
# data order) is identical. (With the text tower frozen, the recipe's default, the anchor is
# constant: plain and DCLIP then differ in the teacher's pull alone.)
LOSS_WEIGHTS: dict[str, dict[str, float]] = {"plain": {"w_img": 0.0, "w_txt": 0.0}}


@dataclass(frozen=True)
class ShapesBenchConfig:
    """Sizes and training values of one benchmark run."""

    world: WorldSize
    pretrain_steps: int
    teacher_steps: int
    student_steps: int
    batch_size: int = 32
    teacher_lr: float = 1e-3
    student_lr: float = 1e-4
    trainable: str = "attn-proj"
    # Where the teacher's regions come from: the world's boxes, or a YOLO trained on them.
    detector: Literal["gt", "yolo"] = "gt"
    detector_epochs: int = 12

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


FULL = ShapesBenchConfig(
    world=WorldSize(pretrain=2000, finetune=800, test=300),
    pretrain_steps=PRETRAIN_STEPS,
    teacher_steps=100,
    student_steps=100,
)
QUICK = ShapesBenchConfig(
    world=WorldSize(pretrain=300, finetune=120, test=60),
    pretrain_steps=15,
    teacher_steps=4,
    student_steps=4,
    batch_size=16,
    detector_epochs=1,
)


def _recipe(
    config: ShapesBenchConfig,
    seed: int,
    teacher: str,
    detector: str,
    weights: dict[str, float] | None = None,
) -> Any:
    from dclip_core.train.recipes import load_recipe

    student: dict[str, Any] = {
        "lr": config.student_lr,
        "batch_size": config.batch_size,
        "grad_accum": 1,
        "epochs": 10_000,  # bounded by max_steps
        "trainable": config.trainable,
    }
    student.update(weights or {})
    return load_recipe(
        "quick",
        overrides={
            "seed": seed,
            "precision": "fp32",
            "checkpoint_every": 10**9,
            "keep_checkpoints": 1,
            "teacher": {
                "lr": config.teacher_lr,
                "batch_size": config.batch_size,
                "epochs": 10_000,
                **TEACHERS[teacher],
            },
            "student": student,
            "data": {
                "val_fraction": 0.0,
                "detector": detector,
                "region_source": "gt" if detector == "gt" else "yolo",
            },
        },
    )


def run_shapes_benchmark(
    config: ShapesBenchConfig,
    root: Path,
    *,
    seeds: int = 1,
    methods: tuple[str, ...] = tuple(METHODS),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark under ``root`` (world, base model and region cache are reused there).

    Args:
        methods: the fine-tunes to run (names of ``METHODS``); only their teachers are trained.

    Returns:
        ``{"config", "seeds", "seconds", "base": summary, "methods": {name: summary}}`` where a
        summary maps each score to its mean, standard deviation and per-seed values; also
        ``"teachers"`` (per teacher and seed: :func:`teacher_diagnostics` and the pointing game)
        and ``"pointing_baselines"`` (similarity and random, which need no teacher).
    """
    import torch

    from dclip_core.eval.embedders import TorchClipEmbedder
    from dclip_core.models.clip import create_clip
    from dclip_core.shapes.evaluation import (
        WorldScores,
        score_model,
        summarise,
        teacher_diagnostics,
        teacher_pointing,
    )
    from dclip_core.shapes.pretrain import pretrain_base, register_trained_base
    from dclip_core.shapes.recipe import PretrainConfig, pretrain_recipe_id
    from dclip_core.shapes.world import build_world, shapes_records
    from dclip_core.train.distill import load_student, train_student
    from dclip_core.train.events import EventSink
    from dclip_core.train.regions import RegionCache
    from dclip_core.train.teacher_trainer import train_teacher

    say = progress or (lambda _line: None)
    started = time.perf_counter()
    world_key = "-".join(str(v) for v in asdict(config.world).values())
    world = build_world(root / f"world-{world_key}", config.world)
    say(f"world ready in {world.root}")
    pretrain = PretrainConfig(steps=config.pretrain_steps, threads=torch.get_num_threads())
    # Keyed by the recipe: a base trained by an earlier recipe is never reused as today's.
    base_dir = root / f"base-{world_key}-{pretrain_recipe_id(pretrain)}"
    weights = base_dir / "base.safetensors"
    if not weights.is_file():
        say(f"pretraining the base model ({config.pretrain_steps} steps)")
        weights = pretrain_base(world, base_dir, pretrain)
    spec = register_trained_base(weights)
    base = create_clip(spec)

    def embedder(name: str, model: torch.nn.Module) -> TorchClipEmbedder:
        return TorchClipEmbedder(name, model, spec.preprocess, spec.context_length)

    base_scores = score_model(embedder("base", base), world)
    say(f"base: {base_scores.to_json()}")
    records = shapes_records(world.finetune_dir)
    detector, detector_report = "gt", None
    if config.detector == "yolo":
        detector, detector_report = _shapes_detector(config, world, root / "detectors", say)
    regions = RegionCache(spec, detector, clip_model=base, cache_dir=root / "regions")
    regions.prepare(records)
    # The pointing game asks about the test scenes' own boxes, whatever the teacher trained on.
    boxes = RegionCache(spec, "gt", clip_model=base, cache_dir=root / "pointing-regions")
    quiet = EventSink("none")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
    scores: dict[str, list[WorldScores]] = {m: [] for m in methods}
    teacher_names = [t for t in TEACHERS if t in {METHODS[m] for m in methods}]
    diagnostics: dict[str, list[dict[str, float]]] = {name: [] for name in teacher_names}
    pointing_baselines: dict[str, float] = {}
    for seed in range(seeds):
        run = (
            root
            / "runs"
            / (
                f"{spec.name}-{config.teacher_steps}-{config.student_steps}-"
                f"{config.student_lr:g}-{config.trainable}-{detector}-s{seed}"
            )
        )
        teachers: dict[str, Path] = {}
        for name in teacher_names:
            result = train_teacher(
                records,
                model=spec.name,
                regions=regions,
                run_dir=run / f"teacher-{name}",
                recipe=_recipe(config, seed, name, regions.detector_name),
                events=quiet,
                max_steps=config.teacher_steps,
            )
            assert result.output is not None  # a run without signals always finishes
            teachers[name] = result.output
            pointing = teacher_pointing(result.output, base, boxes, world).to_json()
            pointing_baselines = {k: pointing[k] for k in ("similarity", "random", "cases")}
            diagnostics[name].append(
                {
                    **teacher_diagnostics(result.output, base, regions, world),
                    "pointing": pointing["attention"],
                    "pointing_span_vector": pointing["span_vector"],
                    "pointing_tv": pointing["attention_tv"],
                    "pointing_mass": pointing["attention_mass"],
                }
            )
            say(f"seed {seed} teacher-{name}: {diagnostics[name][-1]}")
        for method in methods:
            teacher = METHODS[method]
            result = train_student(
                records,
                teacher_path=teachers[teacher],
                regions=regions,
                run_dir=run / method,
                recipe=_recipe(
                    config, seed, teacher, regions.detector_name, LOSS_WEIGHTS.get(method)
                ),
                events=quiet,
                max_steps=config.student_steps,
            )
            assert result.output is not None
            student, _ = load_student(result.output)
            scores[method].append(score_model(embedder(method, student), world))
            say(f"seed {seed} {method}: {scores[method][-1].to_json()}")
    return {
        "benchmark": "shapes",
        "config": config.to_json(),
        "seeds": seeds,
        "base_model": spec.name,
        "seconds": round(time.perf_counter() - started, 1),
        "base": summarise([base_scores]),
        "methods": {m: summarise(v) for m, v in scores.items()},
        "teachers": diagnostics,
        "pointing_baselines": pointing_baselines,
        "detector": detector_report,
    }


def _shapes_detector(
    config: ShapesBenchConfig, world: Any, root: Path, say: Callable[[str], None]
) -> tuple[str, dict[str, Any]]:
    """Train (or reuse) the YOLO of the world's boxes; its registered name and how well it finds
    the test scenes' objects."""
    from dclip_core.models.detector import create_detector
    from dclip_core.shapes.detector import (
        DETECTOR_FILE,
        DetectorConfig,
        box_recall,
        register_trained_detector,
        train_shapes_detector,
    )
    from dclip_core.shapes.scenes import load_scenes

    detector_config = DetectorConfig(epochs=config.detector_epochs)
    key = "-".join(str(v) for v in asdict(detector_config).values())
    run_dir = root / f"{world.root.name}-{key}"
    weights = run_dir / DETECTOR_FILE
    if not weights.is_file():
        weights = train_shapes_detector(world, run_dir, detector_config, progress=say)
    spec = register_trained_detector(weights, detector_config)
    recall = box_recall(create_detector(spec.name), load_scenes(world.test_dir), world.test_dir)
    say(f"detector {spec.name}: finds {recall:.1%} of the test objects (IoU ≥ 0.5)")
    return spec.name, {"name": spec.name, **asdict(detector_config), "box_recall_iou50": recall}


_COLUMNS = (
    ("t2i_r1", "T→I R@1"),
    ("t2i_r5", "T→I R@5"),
    ("t2i_r10", "T→I R@10"),
    ("i2t_r1", "I→T R@1"),
    ("i2t_r5", "I→T R@5"),
    ("i2t_r10", "I→T R@10"),
    ("hard_negative_accuracy", "hard-neg acc"),
    ("zero_shot_top1", "zero-shot top-1"),
)


def format_table(result: dict[str, Any]) -> str:
    """A markdown table: mean ± std (over seeds) in percent, and zero-shot retention vs base."""
    head = "| model | " + " | ".join(label for _, label in _COLUMNS) + " | retention |"
    lines = [head, "|" + "---|" * (len(_COLUMNS) + 2)]
    base_top1 = result["base"]["zero_shot_top1"]["mean"]
    rows = [("base", result["base"]), *result["methods"].items()]
    for name, summary in rows:
        cells = [
            f"{100 * summary[key]['mean']:.1f} ± {100 * summary[key]['std']:.1f}"
            for key, _ in _COLUMNS
        ]
        top1 = summary["zero_shot_top1"]["mean"]
        retention = f"{100 * top1 / base_top1:.0f}%" if base_top1 > 0 else "n/a"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {retention} |")
    return "\n".join(lines)


def format_pointing(result: dict[str, Any]) -> str:
    """A markdown table of each teacher's pointing game (mean over seeds) beside the baselines."""
    keys = ("pointing", "pointing_span_vector", "pointing_tv", "pointing_mass")
    lines = [
        "| teacher | pointing | span vectors | TV between spans | mass on target |",
        "|---|---|---|---|---|",
    ]
    for name, runs in result["teachers"].items():
        cells = [f"{np.mean([r.get(key, np.nan) for r in runs]):.2f}" for key in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    baselines = result.get("pointing_baselines", {})
    for name in ("similarity", "random"):
        if name in baselines:
            lines.append(f"| ({name}) | {baselines[name]:.2f} | | | |")
    return "\n".join(lines)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="tiny world and few steps (a pipeline check, ~3 min)"
    )
    parser.add_argument("--seeds", type=int, default=None, help="fine-tuning seeds (default 3)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: these models are too small to gain from more)",
    )
    parser.add_argument(
        "--student-lr", type=float, default=None, help="student learning rate (default 1e-4)"
    )
    parser.add_argument(
        "--trainable",
        choices=("attn-proj", "vision", "all"),
        default=None,
        help="student parameters trained by every method (default attn-proj, the recipe's)",
    )
    parser.add_argument(
        "--detector",
        choices=("gt", "yolo"),
        default="gt",
        help="teacher regions: the world's boxes (default), or a YOLOv8n trained on them first "
        "(cached; the paper's detector path)",
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated fine-tunes to run (default all: {','.join(METHODS)})",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="work folder (world, base model, runs); default <cache>/bench-shapes",
    )


@benchmark(
    "shapes",
    "pretrain a small CLIP on the shapes world, fine-tune it plainly and with DCLIP, compare",
    _configure,
)
def run(args: argparse.Namespace) -> int:
    from dclip_core.errors import ConfigError

    config = QUICK if args.quick else FULL
    if args.student_lr is not None:
        config = replace(config, student_lr=args.student_lr)
    if args.trainable is not None:
        config = replace(config, trainable=args.trainable)
    if args.detector != "gt":
        config = replace(config, detector=args.detector)
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ConfigError(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    root = args.dir or get_paths().cache_dir / "bench-shapes"
    import torch

    torch.set_num_threads(max(args.threads, 1))
    result = run_shapes_benchmark(
        config,
        root,
        seeds=seeds,
        methods=methods,
        progress=lambda line: print(f"shapes: {line}", file=sys.stderr, flush=True),
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
        print()
        print(format_pointing(result))
        print(f"\n{seeds} seed(s), {result['seconds']:.0f} s, base model {result['base_model']}")
    return 0
