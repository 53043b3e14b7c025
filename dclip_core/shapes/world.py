"""The shapes world laid out on disk for training and evaluation (torch-free).

One world root holds four disjoint parts, each from its own seed (docs/adr/0007-shapes-world.md):

- ``pretrain/``: scenes with *bag-of-objects* captions — the stand-in for the web data base CLIP
  saw: it names the objects (all of them, or one) but never says where they are;
- ``pretrain-objects/``: one object of each pretraining scene cut out, captioned ``"a red
  circle"`` — the close-ups that web data is full of; without them a small model learns colours
  and never shapes (docs/adr/0007-shapes-world.md);
- ``finetune/``: other scenes with *relational* captions ("a small red circle left of a large blue
  star") — the user's fine-tuning set;
- ``test/``: held-out relational scenes for retrieval and hard negatives;
- ``zeroshot/``: single-object crops of the test scenes in class folders (``red_circle/…``).

Each part is an ordinary caption folder (``captions.csv``) with ``scenes.json`` beside it, read
back through :func:`dclip_core.train.datasets.read_caption_folder`, so training and evaluation use
the same readers as a user's data; the ground-truth boxes come from ``scenes.json``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from dclip_core.config.paths import atomic_write_text
from dclip_core.shapes.scenes import (
    CAPTIONS_FILE,
    SCENES_FILE,
    Scene,
    load_scenes,
    write_shapes_dataset,
)
from dclip_core.train.datasets import BoxLabel, CaptionedImage, read_caption_folder

WORLD_FILE = "world.json"
# Bumped when the generator or the layout changes, so a cached world is rebuilt, never reused.
WORLD_FORMAT = 3
CROP_SIZE = 64
# Optimiser steps of the base model's pretraining (batch 64): 36-way zero-shot accuracy on held-out
# object crops ~0.97 after 800 (docs/adr/0013-conv-tower.md).
PRETRAIN_STEPS = 800


@dataclass(frozen=True)
class WorldSize:
    """How many scenes each part of the world has."""

    pretrain: int
    finetune: int
    test: int
    seed: int = 0

    def to_json(self) -> dict[str, int]:
        return {**dataclasses.asdict(self), "format": WORLD_FORMAT}


@dataclass(frozen=True)
class ShapesWorld:
    """Paths of a world built by :func:`build_world`."""

    root: Path
    size: WorldSize

    @property
    def pretrain_dir(self) -> Path:
        return self.root / "pretrain"

    @property
    def pretrain_objects_dir(self) -> Path:
        return self.root / "pretrain-objects"

    @property
    def finetune_dir(self) -> Path:
        return self.root / "finetune"

    @property
    def test_dir(self) -> Path:
        return self.root / "test"

    @property
    def zeroshot_dir(self) -> Path:
        return self.root / "zeroshot"


def build_world(root: Path, size: WorldSize) -> ShapesWorld:
    """Write the world under ``root``, or reuse it when it was built with the same sizes.

    Seeds of the parts are ``size.seed * 1000 + {1, 2, 3}``: disjoint streams, so no test scene
    repeats a training scene.
    """
    world = ShapesWorld(root, size)
    stamp = root / WORLD_FILE
    if stamp.is_file() and json.loads(stamp.read_text(encoding="utf-8")) == size.to_json():
        return world
    base = size.seed * 1000
    pretrain_scenes = write_shapes_dataset(
        world.pretrain_dir, size.pretrain, seed=base + 1, caption_style="bag", captions_per_scene=4
    )
    write_pretrain_close_ups(
        pretrain_scenes, world.pretrain_dir, world.pretrain_objects_dir, seed=base + 4
    )
    write_shapes_dataset(world.finetune_dir, size.finetune, seed=base + 2)
    test_scenes = write_shapes_dataset(world.test_dir, size.test, seed=base + 3)
    write_object_crops(test_scenes, world.test_dir, world.zeroshot_dir)
    # The stamp goes last: an interrupted build is redone, never half reused.
    stamp.write_text(json.dumps(size.to_json()), encoding="utf-8")
    return world


def shapes_records(folder: Path) -> list[CaptionedImage]:
    """The caption folder's records, each with its scene's ground-truth boxes (label = class)."""
    by_file = {scene.file: scene for scene in load_scenes(folder)}
    records = []
    for record in read_caption_folder(folder):
        scene = by_file[record.path.name]
        boxes = [
            BoxLabel(float(o.box[0]), float(o.box[1]), float(o.box[2]), float(o.box[3]), o.label)
            for o in scene.objects
        ]
        records.append(dataclasses.replace(record, boxes=boxes))
    return records


def _crop(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """``box`` plus a margin of a quarter side: the outline whole, some background in view."""
    x1, y1, x2, y2 = box
    m = (x2 - x1) // 4
    return image.crop(
        (max(x1 - m, 0), max(y1 - m, 0), min(x2 + m, image.width), min(y2 + m, image.height))
    )


def write_object_crops(scenes: list[Scene], images_dir: Path, out_dir: Path) -> int:
    """Crop every object of ``scenes`` into ``out_dir/<colour>_<shape>/`` (zero-shot classes).

    Returns:
        The number of crops written.
    """
    written = 0
    for scene in scenes:
        with Image.open(images_dir / scene.file) as image:
            image = image.convert("RGB")
            for k, obj in enumerate(scene.objects):
                crop = _crop(image, obj.box).resize(
                    (CROP_SIZE, CROP_SIZE), Image.Resampling.BICUBIC
                )
                folder = out_dir / obj.label.replace(" ", "_")
                folder.mkdir(parents=True, exist_ok=True)
                crop.save(folder / f"{Path(scene.file).stem}_{k}.png")
                written += 1
    return written


# How much of a close-up's side its object fills, drawn uniformly per close-up. Scenes show objects
# at 17–40 % of the image; close-ups span that and larger, so shapes are learned at the scale
# search meets them, not only full-frame (measured: docs/adr/0007-shapes-world.md).
CLOSE_UP_FILL = (0.2, 0.9)
CLOSE_UPS_FILE = "close_ups.json"


def _close_up_box(
    box: tuple[int, int, int, int], image_size: int, rng: random.Random
) -> tuple[int, int, int, int]:
    """A square around ``box`` that ``box`` fills a random share of, inside the image."""
    x1, y1, x2, y2 = box
    side = min(int((x2 - x1) / rng.uniform(*CLOSE_UP_FILL)), image_size)

    def start(lo: int, hi: int) -> int:
        # The window must contain [lo, hi] and stay inside the image.
        first = max(0, min(hi - side, image_size - side))
        last = min(lo, image_size - side)
        return rng.randint(min(first, last), max(first, last))

    left, top = start(x1, x2), start(y1, y2)
    return left, top, left + side, top + side


def write_pretrain_close_ups(
    scenes: list[Scene], images_dir: Path, out_dir: Path, *, seed: int
) -> int:
    """Cut one object of each scene, at a random zoom, into a caption folder (``"a red circle"``).

    One close-up per scene keeps scenes and close-ups about even in pretraining batches. Crops
    keep their pixel size; the model's preprocessing scales them like any photo. A wide close-up
    may show parts of other objects, as a photo of one thing often does.

    Returns:
        The number of close-ups written.
    """
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []
    truth: list[dict[str, object]] = []
    for scene in scenes:
        k = rng.randrange(len(scene.objects))
        obj = scene.objects[k]
        name = f"{Path(scene.file).stem}_object.png"
        with Image.open(images_dir / scene.file) as image:
            box = _close_up_box(obj.box, min(image.size), rng)
            image.convert("RGB").crop(box).save(out_dir / name)
        rows += [(name, f"a {obj.label}"), (name, obj.phrase)]
        truth.append({"file": name, "scene": scene.file, "object": k, "crop": box})
    with (out_dir / CAPTIONS_FILE).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "caption"])
        writer.writerows(rows)
    atomic_write_text(out_dir / CLOSE_UPS_FILE, json.dumps({"close_ups": truth}, indent=1))
    return len(scenes)


def scenes_by_file(folder: Path) -> dict[str, Scene]:
    """Ground truth of a part, keyed by image file name (for checks against search results)."""
    if not (folder / SCENES_FILE).is_file():
        return {}
    return {scene.file: scene for scene in load_scenes(folder)}
