"""The offline demo: a library of shapes images and a shapes-trained model that finds things in it.

Everything lives under one demo home (``<data dir>/demo``), used as ``DCLIP_HOME`` while the demo
runs, so the demo's library, settings and model never mix with the user's own photos. The model is
``shapes-tiny`` pretrained by :mod:`dclip_core.shapes.pretrain` (a few minutes on a laptop CPU,
once), exported through the ordinary exporter into the bundle ``shapes-demo``.

:func:`prepare_demo` is the one way to get a ready demo, used by ``dclip demo`` and (through
``dclip demo --events jsonl`` in a child process, since the app never imports torch) by the app:

1. point every path at the demo home;
2. reuse the demo model when today's recipes made it (torch-free check), else :func:`build_demo`
   writes the world, pretrains, exports the bundle, and gives it an ``explain/`` part: a grounded
   teacher trained on the pretraining scenes and the shapes detector (docs/adr/0017), so the
   visualizer paints attention that points at the objects a caption names;
3. make the bundle the demo home's model;
4. index the demo photos with region vectors.

It reports one line per phase (and every 10 training steps) and stops at the next of those points
once its cancel token is set, raising :class:`~dclip_core.errors.DemoCancelledError`; whatever was
finished (the world, an exported bundle, indexed photos) is reused by the next run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dclip_core.cancel import CancelToken
from dclip_core.config.paths import HOME_ENV, atomic_write_text, get_paths
from dclip_core.errors import BundleError, DemoCancelledError, DemoError
from dclip_core.shapes.detector import DetectorConfig
from dclip_core.shapes.recipe import PretrainConfig, pretrain_recipe_id
from dclip_core.shapes.world import PRETRAIN_STEPS, ShapesWorld, WorldSize, build_world

DEMO_BUNDLE = "shapes-demo"
# Which pretraining made the demo's bundle (``{"recipe": pretrain_recipe_id(...)}``).
DEMO_MODEL_FILE = "demo-model.json"
DEMO_BANNER = (
    "Demo: a tiny CLIP trained on this machine on synthetic shapes (no download). "
    "Try “red circle”, “blue star left of a green square”, or “yellow triangle”."
)
# The demo library is the world's ``test`` part: 1000 captioned scenes, enough that fine-tuning
# the demo's model on them (the wizard, ``dclip finetune``) learns from a quarter held out
# (docs/benchmarks.md, "Fine-tuning"); the first 300 are the scenes of earlier demos.
DEMO_WORLD = WorldSize(pretrain=2000, finetune=10, test=1000, seed=77)
# The benchmark's pretraining (~3 min on 2 idle cores): enough for the demo to find each of its 36
# colour-shape queries (docs/benchmarks.md, "Region vectors"); CI's e2e test builds exactly this.
DEMO_PRETRAIN_STEPS = PRETRAIN_STEPS
# Objects fill 17–40 % of a demo photo: the demo library is indexed with region vectors, so a
# search finds a small shape in a crop as well as in the whole scene (docs/benchmarks.md,
# "Region vectors").
DEMO_REGIONS = "grid"
# The explain/ teacher (docs/adr/0017): phrase spans encoded as sentences and the weakly
# supervised grounding term — no box annotations needed, so it is the recipe a user's own data
# can follow — trained on the pretraining scenes' boxes. After 300 steps it points at the named
# object in 200 of 200 test scenes; at lr 3e-3 a phrase puts 98 % of its attention there, at
# 1e-3 only 72 % (docs/benchmarks.md "Grounded teacher"): a map the visualizer paints sharply.
DEMO_TEACHER = {
    "span_mode": "phrases",
    "span_features": "sentence",
    "grounding": "contrastive",
    "lr": 3e-3,
    "batch_size": 32,
}


@dataclass(frozen=True)
class DemoExplainConfig:
    """How much training the demo's ``explain/`` part gets (tests shrink it)."""

    teacher_steps: int = 300
    # The detector that proposes regions at explain time, trained from scratch (most of the
    # explain/ part's build time). On 100 test scenes: 10 epochs of 300 scenes in batches of 16
    # find 97 % of the objects (IoU >= 0.5); 5 epochs in batches of 32 find none (the run is
    # mostly ultralytics' warm-up). The benchmark's 12 x 600 finds 100 % but takes ~4 min.
    detector: DetectorConfig = field(
        default_factory=lambda: DetectorConfig(epochs=10, scenes=300, batch=16)
    )


DEMO_EXPLAIN = DemoExplainConfig()

if TYPE_CHECKING:
    from dclip_core.library.index_types import IndexReport
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


@dataclass(frozen=True)
class PreparedDemo:
    """A demo ready to open: its own DCLIP home (settings name the bundle, photos indexed)."""

    home: Path
    bundle: Path
    photos: Path
    banner: str
    indexed: int

    def to_json(self) -> dict[str, object]:
        return {
            "home": str(self.home),
            "bundle": str(self.bundle),
            "photos": str(self.photos),
            "banner": self.banner,
            "indexed": self.indexed,
        }


def prepare_demo(
    *,
    rebuild: bool = False,
    pretrain_steps: int = DEMO_PRETRAIN_STEPS,
    world: WorldSize = DEMO_WORLD,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> PreparedDemo:
    """Build (or reuse) the demo and index its photos; the steps are in the module docstring.

    Sets ``DCLIP_HOME`` to the demo home for the rest of the process: every later path (weights
    cache, bundles, library, settings) is the demo's own.

    Raises:
        DemoCancelledError: ``cancel`` was set.
        DemoError: the demo folder cannot be written, or indexing failed.
    """
    from dclip_core.config import load_settings, save_settings

    say = progress or (lambda _line: None)
    cancel = cancel or CancelToken()
    home = demo_home()
    os.environ[HOME_ENV] = str(home)
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(
            f"cannot create the demo folder {home}: {exc.strerror or exc}; "
            "free that path (or choose another DCLIP_HOME) and try again"
        ) from exc
    if not rebuild and demo_model_is_current(home, pretrain_steps):
        # build_demo would reuse it too, but only after importing torch (~15 s on a busy laptop);
        # opening a finished demo again needs nothing but the world, which is torch-free.
        say(f"using the demo model trained earlier ({demo_bundle()})")
        demo = DemoLibrary(home, build_world(home / "world", world), demo_bundle())
    else:
        say(f"building the demo in {home}")
        demo = build_demo(
            home,
            rebuild=rebuild,
            pretrain_steps=pretrain_steps,
            world=world,
            progress=say,
            cancel=cancel,
        )
    settings = load_settings()
    if settings.model != DEMO_BUNDLE:
        save_settings(dataclasses.replace(settings, model=DEMO_BUNDLE))
    say(f"indexing the demo photos in {demo.photos}")
    report = _index_demo(demo, cancel)
    say(f"{report.scanned} demo photos indexed ({report.embedded} new)")
    return PreparedDemo(home, demo.bundle, demo.photos, DEMO_BANNER, report.scanned)


def _check(cancel: CancelToken | None) -> None:
    """A safe stopping point between two phases of the build."""
    if cancel is not None and cancel.cancelled:
        raise DemoCancelledError("the demo build was stopped; starting it again goes on from here")


def _index_demo(demo: DemoLibrary, cancel: CancelToken) -> IndexReport:
    """Index the demo photos with the demo bundle and region vectors."""
    from dclip_core.config import load_settings
    from dclip_core.library import Library
    from dclip_core.runtime.encoders import ClipEncoder

    settings = load_settings()
    encoder = ClipEncoder.load(
        demo.bundle, provider=settings.execution_provider, threads=settings.threads
    )
    library = Library.open()
    try:
        options = library.index_options(regions=DEMO_REGIONS)
        report = library.index([demo.photos], encoder=encoder, cancel=cancel, options=options)
    finally:
        library.close()
    if report.cancelled:
        raise DemoCancelledError(
            "the demo build was stopped while indexing; starting it again goes on"
        )
    if report.failed:
        raise DemoError(
            f"{report.failed} demo photos in {demo.photos} could not be indexed; "
            "run `dclip demo --rebuild`"
        )
    return report


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
    cancel: CancelToken | None = None,
    explain: DemoExplainConfig = DEMO_EXPLAIN,
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
        cancel: stops the build between phases or inside the pretraining (nothing of it is
            kept; see :func:`~dclip_core.shapes.pretrain.pretrain_base`), the explain teacher's
            training (resumed next time) or the detector's, raising
            :class:`~dclip_core.errors.DemoCancelledError`.
        explain: the training of the bundle's ``explain/`` part.
    """
    from dclip_core.export import export_model
    from dclip_core.shapes.pretrain import (
        PretrainingStoppedError,
        pretrain_base,
        register_trained_base,
    )

    say = progress or (lambda _line: None)
    if rebuild and home.exists():
        say(f"removing the earlier demo in {home}")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    _check(cancel)
    say("writing the shapes world (pretraining scenes and the demo library)")
    shapes = build_world(home / "world", world)
    _check(cancel)
    bundle = demo_bundle()
    config = PretrainConfig(steps=pretrain_steps)
    recipe = pretrain_recipe_id(config)
    if demo_model_is_current(home, pretrain_steps, explain):
        say(f"using the demo model trained earlier ({bundle})")
        return DemoLibrary(home, shapes, bundle)
    if (bundle / "bundle.json").is_file():
        say(
            "the demo model here was built by an older DCLIP or another recipe: bringing it up "
            "to date (what is still current is reused)"
        )
    run_dir = home / "runs" / f"pretrain-{recipe}"
    weights = run_dir / "base.safetensors"
    if not weights.is_file():
        say(f"training the demo model ({pretrain_steps} steps; a few minutes on a CPU, once)")
        try:
            weights = pretrain_base(
                shapes, run_dir, config, events=_progress_events(say), cancel=cancel
            )
        except PretrainingStoppedError as exc:
            if cancel is not None and cancel.cancelled:
                raise DemoCancelledError(f"the demo build was stopped: {exc}") from exc
            raise
    _check(cancel)
    spec = register_trained_base(weights)
    say(f"exporting the demo model to {bundle}")
    export_model(spec.name, bundle, name=DEMO_BUNDLE, progress=say)
    _check(cancel)
    _add_demo_explain(home, shapes, spec.name, bundle, explain, say, cancel)
    # Last: a bundle without its stamp (an interrupted export) is trained and exported again.
    atomic_write_text(
        home / DEMO_MODEL_FILE,
        json.dumps({"recipe": recipe, "explain": explain_recipe_id(explain)}),
    )
    return DemoLibrary(home, shapes, bundle)


def explain_recipe_id(config: DemoExplainConfig = DEMO_EXPLAIN) -> str:
    """A short name of what decides the demo's ``explain/`` part (teacher recipe and steps,
    detector config): a demo stamped with another one is rebuilt (torch-free)."""
    blob = json.dumps({"teacher": DEMO_TEACHER, **dataclasses.asdict(config)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def _add_demo_explain(
    home: Path,
    world: ShapesWorld,
    base_model: str,
    bundle: Path,
    config: DemoExplainConfig,
    say: Progress,
    cancel: CancelToken | None,
) -> None:
    """Train (or reuse) the grounded teacher and the shapes detector; export both into
    ``bundle``'s ``explain/``.

    Each finished part is kept under ``home/runs`` and reused by the next build; a cancelled
    teacher run resumes from its last checkpoint.
    """
    from dclip_core.export.explain import add_explain
    from dclip_core.shapes.detector import (
        DETECTOR_FILE,
        DetectorTrainingStoppedError,
        register_trained_detector,
        train_shapes_detector,
    )
    from dclip_core.shapes.world import shapes_records
    from dclip_core.train.checkpoint import latest_checkpoint
    from dclip_core.train.recipes import load_recipe
    from dclip_core.train.regions import RegionCache
    from dclip_core.train.teacher_trainer import TEACHER_FILE, train_teacher

    recipe_id = explain_recipe_id(config)
    teacher_dir = home / "runs" / f"teacher-{base_model}-{recipe_id}"
    teacher = teacher_dir / TEACHER_FILE
    if not teacher.is_file():
        records = shapes_records(world.pretrain_dir)
        say(f"embedding the boxes of {len(records)} scenes for the explain teacher")
        regions = RegionCache(base_model, "gt")
        regions.prepare(records)
        _check(cancel)
        say(f"training the explain teacher ({config.teacher_steps} steps, grounded)")
        recipe = load_recipe(
            "quick",
            overrides={
                "seed": 0,
                "precision": "fp32",
                "checkpoint_every": 100,
                "keep_checkpoints": 1,
                "teacher": {**DEMO_TEACHER, "epochs": 10_000},  # bounded by max_steps
                "data": {"val_fraction": 0.0, "detector": "gt", "region_source": "gt"},
            },
        )
        result = train_teacher(
            records,
            model=base_model,
            regions=regions,
            run_dir=teacher_dir,
            recipe=recipe,
            events=_progress_events(say),
            resume=latest_checkpoint(teacher_dir) is not None,
            max_steps=config.teacher_steps,
            cancel=cancel,
        )
        if result.output is None:
            raise DemoCancelledError("the demo build was stopped while training the teacher")
    _check(cancel)
    detector_dir = home / "runs" / f"detector-{recipe_id}"
    weights = detector_dir / DETECTOR_FILE
    if not weights.is_file():
        try:
            weights = train_shapes_detector(
                world, detector_dir, config.detector, progress=say, cancel=cancel
            )
        except DetectorTrainingStoppedError as exc:
            raise DemoCancelledError(f"the demo build was stopped: {exc}") from exc
    _check(cancel)
    detector = register_trained_detector(weights, config.detector)
    add_explain(bundle, teacher, detector=detector.name, progress=say)


def demo_bundle() -> Path:
    """Where the demo's bundle is: ``shapes-demo`` in the bundle folder of the current paths."""
    return get_paths().bundles_dir / DEMO_BUNDLE


def demo_model_is_current(
    home: Path,
    pretrain_steps: int = DEMO_PRETRAIN_STEPS,
    explain: DemoExplainConfig = DEMO_EXPLAIN,
) -> bool:
    """Whether ``home`` holds a demo bundle trained by today's recipes for ``pretrain_steps``.

    Torch-free (the app asks before reopening a demo). Demos built before the recipe was recorded
    count as stale: they are trained again; so are demos without today's ``explain/`` part (its
    rebuild reuses the pretrained base model and only adds what is missing).
    """
    if not (demo_bundle() / "bundle.json").is_file():
        return False
    try:
        recorded = json.loads((home / DEMO_MODEL_FILE).read_text(encoding="utf-8"))
        recipe, explained = recorded.get("recipe"), recorded.get("explain")
    except (OSError, ValueError, AttributeError):
        return False
    pretrained = recipe == pretrain_recipe_id(PretrainConfig(steps=pretrain_steps))
    return pretrained and explained == explain_recipe_id(explain) and _records_training()


def _records_training() -> bool:
    """Whether the demo bundle's ``explain/`` says how long its teacher trained.

    Bundles exported before ``teacher_steps`` was recorded show every explanation as "not
    meaningful yet"; such a demo is brought up to date (its explain part exported again).
    """
    from dclip_core.runtime.bundle import load_manifest

    try:
        explain = load_manifest(demo_bundle(), verify=False).explain
    except BundleError:
        return False
    return explain is not None and explain.get("teacher_steps") is not None


def _progress_events(say: Progress) -> EventSink:
    """A training event sink that reports every 10th step through ``say``."""
    from dclip_core.train.events import EventSink

    def listen(record: dict[str, object]) -> None:
        step = record.get("step")
        if record.get("event") == "step" and isinstance(step, int) and step % 10 == 0:
            total = record.get("total_steps", "?")
            stage = record.get("stage", "")
            say(f"  {stage} step {step}/{total} loss {record.get('loss', 0):.3f}")

    return EventSink("none", listeners=[listen])
