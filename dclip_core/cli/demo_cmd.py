"""``dclip demo``: an offline demo in which search visibly works.

Builds a library of shapes images, trains a small CLIP on the shapes world once (cached), exports it
as a bundle, indexes the library with it, and opens the app on it with a banner saying what the demo
is. Everything lives in ``<data dir>/demo``, which serves as ``DCLIP_HOME`` for the demo, so the
user's own library and settings are never touched. The work is
:func:`dclip_core.shapes.demo.prepare_demo`; this module only reports it.

Progress goes to stderr as text, or with ``--events jsonl`` to stdout as JSON lines — how the app,
which never imports torch, runs the build in a child process::

    {"event": "progress", "line": "..."}         one per phase and every 10 training steps
    {"event": "done", "home", "bundle", "photos", "banner", "indexed"}          exit code 0
    {"event": "error", "message": "..."}                                        exit code 1
    {"event": "cancelled"}                                                      exit code 3

``--stop-on-eof`` (for that parent) stops the build at its next safe point once stdin is closed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dclip_core.cancel import CancelToken, cancel_when_stdin_closes
from dclip_core.cli import command, main
from dclip_core.config.processes import app_command
from dclip_core.errors import DclipError, DemoCancelledError

if TYPE_CHECKING:
    from dclip_core.shapes.world import WorldSize

SAMPLE_QUERY = "red circle"


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _world_sizes(text: str) -> tuple[int, int, int, int]:
    try:
        pretrain, finetune, test, seed = (int(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"four integers wanted, got {text!r}") from exc
    return pretrain, finetune, test, seed


@command("demo", "build and open an offline demo library searched by a model trained here")
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rebuild", action="store_true", help="delete the earlier demo and build it again"
    )
    parser.add_argument(
        "--no-app",
        action="store_true",
        help="stop after indexing and print a sample search instead of opening the app",
    )
    parser.add_argument(
        "--pretrain-steps",
        type=_positive,
        metavar="N",
        help="train the demo model for N steps (default 800: a few minutes on a CPU; fewer is "
        "faster and finds less)",
    )
    parser.add_argument(
        "--events",
        choices=["text", "jsonl"],
        default="text",
        help="progress as text on stderr (default) or JSON lines on stdout (implies --no-app)",
    )
    # For the app's child process and tests: a smaller world, and stop when stdin closes.
    parser.add_argument("--world", type=_world_sizes, help=argparse.SUPPRESS)
    parser.add_argument("--stop-on-eof", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(handler=run_demo)


def _say(line: str) -> None:
    print(f"dclip demo: {line}", file=sys.stderr, flush=True)


def _sample_search(photos: Path) -> int:
    """Print the top 10 for :data:`SAMPLE_QUERY`, each checked against the scenes' ground truth."""
    from dclip_core.library.regions import describe_box
    from dclip_core.shapes.world import scenes_by_file

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        code = main(["search", SAMPLE_QUERY, "--limit", "10", "--json"])
    if code:
        return code
    scenes = scenes_by_file(photos)
    colour, shape = SAMPLE_QUERY.split()
    hits = 0
    for result in json.loads(captured.getvalue())["results"]:
        scene = scenes.get(Path(result["path"]).name)
        has = scene is not None and scene.has(colour, shape)
        hits += has
        mark = f"has a {SAMPLE_QUERY}" if has else "-"
        where = f" (best in the {describe_box(result['region'])} crop)" if result["region"] else ""
        print(f"{result['rank']:3d}  {result['score']:.3f}  {result['path']}  {mark}{where}")
    print(f"{hits} of the top 10 contain a {SAMPLE_QUERY} (checked against scenes.json)")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from dclip_core.shapes.demo import DEMO_PRETRAIN_STEPS, DEMO_WORLD, prepare_demo
    from dclip_core.shapes.world import WorldSize

    cancel = CancelToken()
    if args.stop_on_eof:
        cancel_when_stdin_closes(cancel, name="dclip-demo-stdin")
    world = DEMO_WORLD
    if args.world is not None:
        pretrain, finetune, test, seed = args.world
        world = WorldSize(pretrain=pretrain, finetune=finetune, test=test, seed=seed)
    steps = args.pretrain_steps or DEMO_PRETRAIN_STEPS
    if args.events == "jsonl":
        return _run_with_events(args.rebuild, steps, world, cancel)
    demo = prepare_demo(
        rebuild=args.rebuild, pretrain_steps=steps, world=world, progress=_say, cancel=cancel
    )
    if args.no_app:
        _say(f'sample search: dclip --home {demo.home} search "{SAMPLE_QUERY}"')
        return _sample_search(demo.photos)
    _say("opening the app")
    app = app_command("--home", str(demo.home), "--banner", demo.banner)
    return subprocess.call(app)


def _run_with_events(rebuild: bool, steps: int, world: WorldSize, cancel: CancelToken) -> int:
    """The build with JSON lines on stdout, and nothing else there (other output goes to
    stderr)."""
    from dclip_core.shapes.demo import prepare_demo

    protocol = sys.stdout

    def emit(event: str, **fields: object) -> None:
        protocol.write(json.dumps({"event": event, **fields}) + "\n")
        protocol.flush()

    try:
        with contextlib.redirect_stdout(sys.stderr):
            demo = prepare_demo(
                rebuild=rebuild,
                pretrain_steps=steps,
                world=world,
                progress=lambda line: emit("progress", line=line),
                cancel=cancel,
            )
    except DemoCancelledError:
        emit("cancelled")
        return DemoCancelledError.exit_code
    except (DclipError, OSError) as exc:
        emit("error", message=str(exc))
        return 1
    emit("done", **demo.to_json())
    return 0
