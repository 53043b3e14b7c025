"""``dclip demo``: an offline demo in which search visibly works.

Builds a library of shapes images, trains a small CLIP on the shapes world once (cached), exports it
as a bundle, indexes the library with it, and opens the app on it with a banner saying what the demo
is. Everything lives in ``<data dir>/demo``, which serves as ``DCLIP_HOME`` for the demo, so the
user's own library and settings are never touched. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from dclip_core.cli import command, main
from dclip_core.config.paths import HOME_ENV

SAMPLE_QUERY = "red circle"


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


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
    from dclip_core.config import load_settings, save_settings
    from dclip_core.shapes.demo import (
        DEMO_BANNER,
        DEMO_BUNDLE,
        DEMO_PRETRAIN_STEPS,
        build_demo,
        demo_home,
    )

    home = demo_home()
    # From here on every path (weights cache, bundles, library, settings) is the demo's own.
    os.environ[HOME_ENV] = str(home)
    steps = args.pretrain_steps or DEMO_PRETRAIN_STEPS
    demo = build_demo(home, rebuild=args.rebuild, pretrain_steps=steps, progress=_say)
    settings = load_settings()
    if settings.model != DEMO_BUNDLE:
        save_settings(dataclasses.replace(settings, model=DEMO_BUNDLE))
    _say(f"indexing {demo.photos}")
    with contextlib.redirect_stdout(sys.stderr):
        code = main(demo.index_command())
    if code:
        return code
    if args.no_app:
        _say(f'sample search: dclip --home {home} search "{SAMPLE_QUERY}"')
        return _sample_search(demo.photos)
    _say("opening the app")
    app = [sys.executable, "-m", "dclip_app", "--home", str(home), "--banner", DEMO_BANNER]
    return subprocess.call(app)
