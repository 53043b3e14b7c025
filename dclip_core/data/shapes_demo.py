"""The offline demo: a library of shapes images and a shapes-trained model that finds things in it.

Everything lives under one demo home (``<data dir>/demo``), used as ``DCLIP_HOME`` while the demo
runs, so the demo's library, settings and model never mix with the user's own photos. The model is
``shapes-tiny`` pretrained by :mod:`dclip_core.data.shapes_model` (a few minutes on a laptop CPU,
once), exported through the ordinary exporter into the bundle ``shapes-demo``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dclip_core.config.paths import get_paths
from dclip_core.data.shapes_world import PRETRAIN_STEPS, ShapesWorld, WorldSize, build_world

DEMO_BUNDLE = "shapes-demo"
DEMO_BANNER = (
    "Demo: a tiny CLIP trained on this machine on synthetic shapes (no download). "
    "Try “red circle”, “blue star left of a green square”, or “yellow triangle”."
)
DEMO_WORLD = WorldSize(pretrain=2000, finetune=10, test=300, seed=77)
# Twice the benchmark's pretraining (PRETRAIN_STEPS): ~7 min on 2 idle cores, a few on a laptop.
# It is what makes the demo's search good (36 colour-shape queries, mean precision@10 0.44 at 800
# steps, 0.68 at 1600; docs/benchmarks.md, "Region vectors"). CI's e2e test trains the demo with
# PRETRAIN_STEPS (`--pretrain-steps`) to stay inside its time budget.
DEMO_PRETRAIN_STEPS = 2 * PRETRAIN_STEPS
# Objects fill 17–40 % of a demo photo: the demo library is indexed with region vectors, so a
# search finds a small shape in a crop as well as in the whole scene (docs/benchmarks.md,
# "Region vectors").
DEMO_REGIONS = "grid"

if TYPE_CHECKING:
    from dclip_core.train.events import EventSink

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoLibrary:
    """A built demo: its home, the photos, their ground truth and the bundle that indexes them."""

    home: Path
    world: ShapesWorld
    bundle: Path

    def index_command(self) -> list[str]:
        """The ``dclip`` arguments that index the demo photos with the demo bundle."""
        return ["index", str(self.photos), "--model", str(self.bundle), "--regions", DEMO_REGIONS]

    @property
    def photos(self) -> Path:
        """The demo library's folder: relational scenes with ``scenes.json`` beside them."""
        return self.world.test_dir


def demo_home() -> Path:
    """Where the demo lives: ``<data dir>/demo`` of the current (user's) paths."""
    return get_paths().data_dir / "demo"


def build_demo(
    home: Path,
    *,
    rebuild: bool = False,
    pretrain_steps: int = DEMO_PRETRAIN_STEPS,
    world: WorldSize = DEMO_WORLD,
    progress: Progress | None = None,
) -> DemoLibrary:
    """Build (or reuse) the demo world and its bundle under ``home``.

    Must run with ``DCLIP_HOME=home`` in effect (the CLI sets it): the weights cache and bundle
    folder of ``home`` are used.

    Args:
        home: the demo home.
        rebuild: delete an earlier demo first (world, training run, bundle, library).
        pretrain_steps: optimiser steps of the base model's pretraining.
        world: sizes of the world; the demo library is its ``test`` part.
        progress: receives one line per phase.
    """
    from dclip_core.data.shapes_model import PretrainConfig, pretrain_base, register_trained_base
    from dclip_core.export import export_model

    say = progress or (lambda _line: None)
    if rebuild and home.exists():
        say(f"removing the earlier demo in {home}")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    say("writing the shapes world (pretraining scenes and the demo library)")
    shapes = build_world(home / "world", world)
    bundle = get_paths().bundles_dir / DEMO_BUNDLE
    if (bundle / "bundle.json").is_file():
        say(f"using the demo model trained earlier ({bundle})")
        return DemoLibrary(home, shapes, bundle)
    run_dir = home / "runs" / f"pretrain-{pretrain_steps}"
    weights = run_dir / "base.safetensors"
    if not weights.is_file():
        say(f"training the demo model ({pretrain_steps} steps; a few minutes on a CPU, once)")
        weights = pretrain_base(
            shapes, run_dir, PretrainConfig(steps=pretrain_steps), events=_progress_events(say)
        )
    spec = register_trained_base(weights)
    say(f"exporting the demo model to {bundle}")
    export_model(spec.name, bundle, name=DEMO_BUNDLE, progress=say)
    return DemoLibrary(home, shapes, bundle)


def _progress_events(say: Progress) -> EventSink:
    """A training event sink that reports every 10th step through ``say``."""
    from dclip_core.train.events import EventSink

    def listen(record: dict[str, object]) -> None:
        step = record.get("step")
        if record.get("event") == "step" and isinstance(step, int) and step % 10 == 0:
            say(f"  step {step}/{record.get('total_steps', '?')} loss {record.get('loss', 0):.3f}")

    return EventSink("none", listeners=[listen])
