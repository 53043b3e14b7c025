"""``dclip finetune``: fine-tune on your captioned photos in one resumable run.

Stages (docs/finetune.md): check the data → split train / held-out → measure a time estimate →
train the teacher → distil the student → evaluate base vs fine-tuned on the held-out photos →
export the student bundle. ``--resume RUN`` continues at the first unfinished stage (inside a
training stage, from its last checkpoint). ``--events jsonl`` prints every event as a JSON line on
stdout (the app's wizard runs this command and reads them). Ctrl-C / SIGTERM in a training stage
checkpoints and exits 130 / 143, as ``dclip train-teacher`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dclip_core.cli import command
from dclip_core.errors import ConfigError, DclipError

_STAGE_FLAGS = ("recipe", "config", "set", "seed", "regions", "detector", "held_out", "data")


@command(
    "finetune", "fine-tune on your captioned photos: check, train, evaluate, export (resumable)"
)
def configure(parser: argparse.ArgumentParser) -> None:
    from dclip_core.cli.train_cmd import add_recipe_options

    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="SPEC",
        help="captioned photos as FORMAT=PATH[,images=DIR] (folder, coco, karpathy, flickr30k, cc, "
        "shapes, library — PATH a folder of the library, its annotations; repeatable), "
        "e.g. folder=~/Pictures/captioned",
    )
    parser.add_argument(
        "--model",
        help="model to fine-tune: a registered name or a bundle (default: the library's model)",
    )
    parser.add_argument("--out", type=Path, metavar="RUN", help="folder of the new run")
    parser.add_argument(
        "--resume", type=Path, metavar="RUN", help="continue an unfinished run where it stopped"
    )
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="only check the data and show what would be trained on (writes nothing)",
    )
    add_recipe_options(parser, default="quick", example="student.lr=1e-5")
    parser.add_argument("--seed", type=int, help="seed of the split, data order and draws")
    parser.add_argument(
        "--held-out",
        type=float,
        default=0.2,
        metavar="FRACTION",
        help="share of the photos held out to measure the result on (default 0.2)",
    )
    parser.add_argument(
        "--regions",
        choices=["yolo", "gt", "yolo+gt"],
        help="teacher regions: detector boxes, the data's own boxes, or both",
    )
    parser.add_argument("--detector", help="detector for yolo regions (see the registry)")
    parser.add_argument("--teacher-steps", type=int, help="stop the teacher after this many steps")
    parser.add_argument("--student-steps", type=int, help="stop the student after this many steps")
    parser.add_argument(
        "--zeroshot",
        type=Path,
        metavar="DIR",
        help="class folders to measure how much zero-shot accuracy the fine-tune keeps",
    )
    parser.add_argument(
        "--zeroshot-template", default="a photo of a {}", help="zero-shot prompt ({} = class)"
    )
    parser.add_argument(
        "--no-explain", action="store_true", help="export the bundle without explain/ (smaller)"
    )
    parser.add_argument(
        "--no-estimate", action="store_true", help="skip the measured time estimate"
    )
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="with --check-only: also measure how long training will take here (a few steps "
        "of each stage; the region cache it fills is reused by the run)",
    )
    parser.add_argument("--bundle-name", help="display name of the exported bundle")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument(
        "--events", choices=["jsonl"], help="progress as JSON lines on stdout (for programs)"
    )
    parser.set_defaults(handler=run)


def _options(args: argparse.Namespace) -> Any:
    from dclip_core.cli.train_cmd import parse_set_values
    from dclip_core.config import load_settings
    from dclip_core.finetune.run_folder import FinetuneOptions
    from dclip_core.train.recipes import load_recipe

    if not args.data:
        raise ConfigError(
            "no training data: give --data FORMAT=PATH, e.g. --data folder=~/Pictures/captioned"
        )
    if not 0.0 < args.held_out < 1.0:
        raise ConfigError(f"--held-out {args.held_out}: give a fraction between 0 and 1, e.g. 0.2")
    overrides = parse_set_values(args.set)
    data = overrides.setdefault("data", {})
    if args.regions is not None:
        data["region_source"] = args.regions
    if args.detector is not None:
        data["detector"] = args.detector
    if args.seed is not None:
        overrides["seed"] = args.seed
    recipe = load_recipe(args.recipe, args.config, {k: v for k, v in overrides.items() if v != {}})
    return FinetuneOptions(
        sources=list(args.data),
        model=args.model or load_settings().model,
        recipe=recipe,
        held_out=args.held_out,
        teacher_steps=args.teacher_steps,
        student_steps=args.student_steps,
        zeroshot=str(args.zeroshot.expanduser().absolute()) if args.zeroshot else None,
        zeroshot_template=args.zeroshot_template,
        explain=not args.no_explain,
        estimate=not args.no_estimate,
        bundle_name=args.bundle_name,
    )


class _TextPrinter:
    """The events for people, on stderr (the JSON lines are for programs)."""

    def __call__(self, event: dict[str, Any]) -> None:
        from dclip_core.finetune.evaluate import format_table
        from dclip_core.train.events import format_event

        name = event["event"]
        if name == "datacheck":
            if event.get("refused"):
                return  # refused data is said in one line: the error `dclip` prints
            lines = [f"data: {line}" for line in event["lines"] if not line.startswith("warning")]
        elif name == "warning":
            lines = [f"warning: {event['message']}"]
        elif name == "stage":
            # The check speaks for itself (and a refused one in the error line alone).
            if event["stage"] == "check" or event["status"] == "done":
                return
            lines = [f"== {event['stage']} ({event['status']})"]
        elif name == "estimate":
            lines = [f"estimate: {event['text']}"]
        elif name == "evaluation":
            lines = [format_table(event["rows"])]
        elif name == "verdict":
            lines = [f"verdict: {event['text']}"]
        elif name in ("regions", "progress"):
            return
        else:
            lines = [format_event(event)]
        for line in lines:
            print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from dclip_core.train.events import EventSink

    if args.check_only:
        return _check_only(args)
    text = args.events is None
    events = EventSink("none" if text else "jsonl", listeners=[_TextPrinter()] if text else [])
    try:
        return _run(args, events)
    except DclipError as exc:
        if not text:  # people get the error line from `dclip` itself
            events.emit("error", stage="finetune", message=str(exc))
        raise


def _run(args: argparse.Namespace, events: Any) -> int:
    from dclip_core.cli.train_cmd import stopped_exit_code
    from dclip_core.finetune.pipeline import resume_finetune, run_stages, start_finetune
    from dclip_core.finetune.run_folder import default_run_dir

    if args.resume is not None:
        given = [f"--{f.replace('_', '-')}" for f in _STAGE_FLAGS if _given(args, f)]
        if given or args.out is not None:
            drop = ", ".join(given) or "--out"
            raise ConfigError(f"--resume continues a run with its own data and recipe; drop {drop}")
        run, _ = resume_finetune(args.resume.expanduser().absolute(), events)
    else:
        out = (args.out or default_run_dir()).expanduser().absolute()
        run, _ = start_finetune(_options(args), out, events)
    result = run_stages(run, events, device=args.device)
    if result.status == "stopped":
        print(f"dclip: stopped; continue with: dclip finetune --resume {run.path}", file=sys.stderr)
        return stopped_exit_code(result.stop_signal)
    if args.events is None:
        print(f"verdict: {result.verdict}")
        print(f"bundle: {result.bundle}")
        print(f"run: {run.path}  (use it: dclip models activate {result.bundle})")
    return 0


def _given(args: argparse.Namespace, flag: str) -> bool:
    defaults = {"recipe": "quick", "set": [], "data": [], "held_out": 0.2}
    value = getattr(args, flag)
    return value is not None and value != defaults.get(flag)


def _check_only(args: argparse.Namespace) -> int:
    import json

    from dclip_core.finetune.base_model import resolve_base_model
    from dclip_core.finetune.data import parse_source
    from dclip_core.finetune.datacheck import DataRefusedError, check_data
    from dclip_core.models.registry import get_model_spec

    def emit(event: str, **fields: Any) -> None:
        if args.events:
            print(json.dumps({"event": event, "stage": "check", **fields}), flush=True)
        elif event == "datacheck":
            print("\n".join(fields["lines"]))

    options = _options(args)
    try:
        base_model = resolve_base_model(options.model)
        spec = get_model_spec(base_model)
        check, split = check_data(
            [parse_source(s) for s in options.sources],
            context_length=spec.context_length,
            held_out=options.held_out,
            seed=options.recipe.seed,
        )
    except DataRefusedError as exc:
        # What was found still helps to fix the data (the wizard lists it under the error).
        emit("datacheck", **exc.check.event_fields(refused=str(exc)))
        emit("error", message=str(exc))
        raise
    except DclipError as exc:
        emit("error", message=str(exc))
        raise
    emit("datacheck", **check.event_fields())
    if args.estimate:
        from dclip_core.finetune.pipeline import estimate_before_training
        from dclip_core.train.events import EventSink

        events = EventSink("jsonl" if args.events else "none")
        try:
            result = estimate_before_training(
                options, base_model, check, split, events, device=args.device
            )
        except DclipError as exc:
            emit("error", message=str(exc))
            raise
        if not args.events:
            print(f"estimate: {result['text']}")
    return 0
