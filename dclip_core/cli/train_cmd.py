"""``dclip train-teacher`` and ``dclip distill``: the two stages of the DCLIP method.

Both run in one process or under ``torchrun --nproc-per-node N -m dclip_core train-teacher …``
(DDP; gloo on CPU, NCCL on CUDA). With ``--events jsonl`` progress goes to stdout as JSON lines
(the app's wizard reads them); Ctrl-C or SIGTERM saves a checkpoint and exits with 130/143, any
other stop with 130: a stopped run never exits 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dclip_core.cli import command
from dclip_core.errors import ConfigError, DatasetError

DATA_HELP = (
    "training data as FORMAT=PATH[,images=DIR] (formats: folder, coco, karpathy, flickr30k, cc, "
    "library — PATH a folder of the library, its annotations); repeat to combine datasets"
)
# A stopped run is not a success: 128 + the signal's number, as a shell reports a process killed by
# it (scripts and the wizard can tell a stop from a finished run); any other stop (a cancel) is 130.
_STOP_EXIT = {"SIGINT": 130, "SIGTERM": 143}


def stopped_exit_code(stop_signal: str | None) -> int:
    """The exit code of a training command whose run stopped before its end."""
    return _STOP_EXIT.get(stop_signal or "", 130)


def add_recipe_options(parser: argparse.ArgumentParser, *, default: str, example: str) -> None:
    """``--recipe``, ``--config`` and ``--set``: the recipe and its overrides (every training
    command takes them alike)."""
    other = "quick" if default == "paper" else "paper"
    parser.add_argument(
        "--recipe", default=default, help=f"recipe name: {default} (default) or {other}"
    )
    parser.add_argument("--config", type=Path, metavar="TOML", help="recipe overrides from a file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one recipe value, e.g. --set {example} (repeatable)",
    )


def _add_common(parser: argparse.ArgumentParser, stage: str) -> None:
    parser.add_argument("--data", action="append", default=[], metavar="SPEC", help=DATA_HELP)
    parser.add_argument(
        "--exclude-karpathy",
        action="append",
        default=[],
        type=Path,
        metavar="JSON",
        help="a Karpathy split file whose test/val images must not be trained on (repeatable)",
    )
    parser.add_argument("--out", type=Path, metavar="RUN_DIR", help="folder of the new run")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue a stopped run from its latest checkpoint (with its saved recipe)",
    )
    add_recipe_options(parser, default="paper", example="teacher.lr=3e-5")
    parser.add_argument("--epochs", type=int, help=f"{stage} epochs")
    parser.add_argument("--lr", type=float, help=f"{stage} learning rate")
    parser.add_argument("--batch-size", type=int, help=f"{stage} global micro-batch size")
    parser.add_argument("--grad-accum", type=int, help=f"{stage} gradient accumulation steps")
    parser.add_argument("--seed", type=int, help="run seed (data order, caption draws, init)")
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "bf16", "fp16"], help="CUDA autocast precision"
    )
    parser.add_argument("--checkpoint-every", type=int, metavar="STEPS")
    parser.add_argument(
        "--regions",
        choices=["yolo", "gt", "yolo+gt"],
        help="region source: YOLO detections, dataset/user boxes, or both",
    )
    parser.add_argument("--detector", help="detector name for YOLO regions (see the registry)")
    parser.add_argument("--conf", type=float, help="detector confidence threshold")
    parser.add_argument("--max-regions", type=int, help="keep at most this many regions per image")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    parser.add_argument(
        "--events", choices=["jsonl"], help="progress as JSON lines on stdout (for programs)"
    )


@command("train-teacher", "train the DCLIP cross-modal teacher on captioned images")
def configure_teacher(parser: argparse.ArgumentParser) -> None:
    _add_common(parser, "teacher")
    parser.add_argument("--model", default="clip-vit-b-32", help="base CLIP model (registry name)")
    parser.add_argument("--span-mode", choices=["tokens", "phrases"], help="text spans")
    parser.add_argument(
        "--span-features",
        choices=["token-states", "sentence"],
        help="span vectors: pooled token states (paper) or each span's text as its own sentence",
    )
    parser.add_argument(
        "--grounding",
        choices=["none", "contrastive", "linked"],
        help="span-region alignment term beside the paper's loss (docs/adr/0017; paper: none)",
    )
    parser.add_argument(
        "--grounding-weight", type=float, help="weight of the grounding term (default 1)"
    )
    parser.add_argument("--layers", type=int, help="cross-attention layers (paper: 1)")
    parser.add_argument("--heads", type=int, help="attention heads (paper: 8)")
    parser.add_argument("--ffn", action="store_true", default=None, help="add feed-forward blocks")
    parser.add_argument(
        "--paper-compat",
        action="store_true",
        default=None,
        help="reproduce the released code's unmasked padding (for comparing numbers)",
    )
    parser.set_defaults(handler=run_teacher)


@command("distill", "distil a trained teacher into a student CLIP (hybrid loss)")
def configure_distill(parser: argparse.ArgumentParser) -> None:
    _add_common(parser, "student")
    parser.add_argument("--teacher", type=Path, help="teacher.safetensors from train-teacher")
    parser.add_argument("--model", help="student base model (default: the teacher's)")
    parser.add_argument("--trainable", choices=["attn-proj", "vision", "all"])
    parser.add_argument(
        "--train-text",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also train the text tower (frozen by default, as the paper)",
    )
    parser.add_argument("--w-img", type=float, help="weight of 1-cos(student image, teacher)")
    parser.add_argument("--w-txt", type=float, help="weight of 1-cos(student text, base text)")
    parser.add_argument("--w-con", type=float, help="weight of the contrastive term")
    parser.add_argument(
        "--w-neg",
        type=float,
        help="weight of the hard-negative term (not in the paper; default 0): each photo must "
        "prefer its caption to the caption with two colours, sizes or a relation swapped",
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        metavar="DIR",
        help="after training, export the student as a dclip-student bundle with explain/",
    )
    parser.set_defaults(handler=run_distill)


def parse_data_spec(spec: str) -> tuple[str, Path, Path | None]:
    """``FORMAT=PATH[,images=DIR]`` → (format, path, images).

    Raises:
        ConfigError: malformed spec.
    """
    fmt, sep, rest = spec.partition("=")
    if not sep or not rest:
        raise ConfigError(
            f"--data {spec!r}: expected FORMAT=PATH[,images=DIR], e.g. folder=~/photos"
        )
    path_text, _, images_text = rest.partition(",images=")
    images = Path(images_text).expanduser() if images_text else None
    return fmt.strip(), Path(path_text).expanduser(), images


def parse_set_values(pairs: list[str]) -> dict[str, Any]:
    """``--set section.key=value`` pairs as recipe overrides (values parsed by the recipe)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. student.lr=1e-6")
        section, dot, name = key.partition(".")
        if dot:
            out.setdefault(section, {})[name] = value
        else:
            out[key] = value
    return out


def recipe_overrides(args: argparse.Namespace, stage: str) -> dict[str, Any]:
    """Recipe overrides from ``--set`` and the explicit flags (flags win)."""
    overrides = parse_set_values(args.set)
    section = overrides.setdefault(stage, {})
    for flag, key in (
        ("epochs", "epochs"),
        ("lr", "lr"),
        ("batch_size", "batch_size"),
        ("grad_accum", "grad_accum"),
    ):
        if getattr(args, flag) is not None:
            section[key] = getattr(args, flag)
    stage_flags = (
        (
            "span_mode",
            "span_features",
            "grounding",
            "grounding_weight",
            "layers",
            "heads",
            "ffn",
            "paper_compat",
        )
        if stage == "teacher"
        else ("trainable", "train_text", "w_img", "w_txt", "w_con", "w_neg")
    )
    for flag in stage_flags:
        if getattr(args, flag, None) is not None:
            section[flag] = getattr(args, flag)
    data = overrides.setdefault("data", {})
    for flag, key in (
        ("regions", "region_source"),
        ("detector", "detector"),
        ("conf", "detector_conf"),
        ("max_regions", "max_regions"),
    ):
        if getattr(args, flag) is not None:
            data[key] = getattr(args, flag)
    for flag in ("seed", "precision", "checkpoint_every"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    return {k: v for k, v in overrides.items() if v != {}}


def _records(args: argparse.Namespace, verbose: bool) -> tuple[list[Any], dict[str, Any]]:
    from dclip_core.train.datasets import DatasetSource, read_sources

    if not args.data:
        raise ConfigError("no training data: give --data FORMAT=PATH (e.g. --data folder=~/photos)")
    sources = []
    for spec in args.data:
        fmt, path, images = parse_data_spec(spec)
        sources.append(DatasetSource(format=fmt, path=path, images=images))
    records, report = read_sources(sources, karpathy=args.exclude_karpathy)
    if verbose:
        print(f"dclip: data: {report.summary()}", file=sys.stderr)
    if not records:
        raise DatasetError(
            f"no usable training images in {', '.join(args.data)} ({report.summary()})"
        )
    return records, {"sources": list(args.data), "summary": report.summary()}


def _prepare(args: argparse.Namespace, stage: str) -> tuple[Any, ...]:
    from dclip_core.cli import warn_meaningless
    from dclip_core.models.registry import get_model_spec
    from dclip_core.train.distributed import init_distributed
    from dclip_core.train.events import EventSink
    from dclip_core.train.recipes import load_recipe
    from dclip_core.train.runs import read_run_info

    if (args.out is None) == (args.resume is None):
        raise ConfigError("give either --out RUN_DIR for a new run or --resume RUN_DIR")
    ctx = init_distributed(args.device)
    events = EventSink("jsonl" if args.events else "text", enabled=ctx.is_main)
    if args.resume is not None:
        info = read_run_info(args.resume, stage)
        recipe, model, run_dir = info.recipe, info.model, args.resume
    else:
        recipe = load_recipe(args.recipe, args.config, recipe_overrides(args, stage))
        model, run_dir = args.model, args.out
    if model and ctx.is_main and get_model_spec(model).meaningless:
        warn_meaningless(model)
    records, data = _records(args, verbose=ctx.is_main)
    return ctx, events, recipe, model, run_dir, records, data


def _region_source(
    recipe: Any, model: str, records: list[Any], ctx: Any, events: Any
) -> tuple[Any, list[Any]]:
    """Open the region cache and fill it before training (rank 0 computes, the others wait).

    Images whose regions cannot be computed (undecodable files) are left out of training and
    reported, rather than failing the run at some later step.
    """
    import torch.distributed as dist

    from dclip_core.train.regions import RegionCache

    data = recipe.data
    detector = "gt" if data.region_source == "gt" else data.detector
    cache = RegionCache(
        model,
        detector,
        source=data.region_source,
        conf=data.detector_conf,
        max_regions=data.max_regions or 300,
        device=ctx.device,
    )
    if ctx.is_main:
        stats = cache.prepare(
            records,
            progress=lambda done, total: events.emit(
                "regions", stage="prepare", done=done, total=total
            ),
        )
        for path, reason in stats.failed:
            print(f"dclip: skipping {path}: {reason}", file=sys.stderr)
    failed = [sorted(str(path) for path, _ in cache.stats.failed)]
    if ctx.distributed:
        # every rank must train on the same list, so rank 0's verdict is shared
        dist.broadcast_object_list(failed, src=0)
    skip = set(failed[0])
    return cache, [r for r in records if str(r.path) not in skip]


def run_teacher(args: argparse.Namespace) -> int:
    from dclip_core.train.distributed import shutdown_distributed
    from dclip_core.train.teacher_trainer import train_teacher

    ctx, events, recipe, model, run_dir, records, data = _prepare(args, "teacher")
    try:
        regions, records = _region_source(recipe, model, records, ctx, events)
        result = train_teacher(
            records,
            model=model,
            regions=regions,
            run_dir=run_dir,
            recipe=recipe,
            events=events,
            ctx=ctx,
            resume=args.resume is not None,
            max_steps=args.max_steps,
            data_summary=data,
        )
    finally:
        shutdown_distributed()
    return stopped_exit_code(result.stop_signal) if result.status == "stopped" else 0


def run_distill(args: argparse.Namespace) -> int:
    from dclip_core.models.teacher import load_teacher
    from dclip_core.train.distill import train_student
    from dclip_core.train.distributed import shutdown_distributed
    from dclip_core.train.runs import read_run_info

    teacher_path = args.teacher
    if args.resume is not None and teacher_path is None:
        teacher_path = Path(read_run_info(args.resume, "student").extra["teacher"])
    if teacher_path is None:
        raise ConfigError("give --teacher PATH (the teacher.safetensors of a train-teacher run)")
    if args.model is None and args.resume is None:
        args.model = load_teacher(teacher_path).base_model
    ctx, events, recipe, model, run_dir, records, data = _prepare(args, "student")
    try:
        regions, records = _region_source(recipe, model, records, ctx, events)
        result = train_student(
            records,
            teacher_path=teacher_path,
            regions=regions,
            run_dir=run_dir,
            model=model,
            recipe=recipe,
            events=events,
            ctx=ctx,
            resume=args.resume is not None,
            max_steps=args.max_steps,
            data_summary=data,
        )
    finally:
        shutdown_distributed()
    if result.status == "stopped":
        return stopped_exit_code(result.stop_signal)
    if args.bundle is not None and result.output is not None and ctx.is_main:
        from dclip_core.export.student_bundle import export_student_bundle

        manifest = export_student_bundle(
            result.output,
            args.bundle,
            teacher_path=teacher_path,
            progress=lambda line: print(f"dclip: {line}", file=sys.stderr),
        )
        events.emit("bundle", stage="student", path=str(manifest.path))
    return 0
