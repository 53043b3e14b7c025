"""The shapes world laid out on disk for training and evaluation (torch-free).

One world root holds four disjoint parts, each from its own seed (docs/adr/0007-shapes-world.md):

- ``pretrain/``: scenes with *bag-of-objects* captions — the stand-in for the web data base CLIP
  saw: it names the objects but never says where they are;
- ``finetune/``: other scenes with *relational* captions ("a small red circle left of a large blue
  star") — the user's fine-tuning set;
- ``test/``: held-out relational scenes for retrieval and hard negatives;
- ``zeroshot/``: single-object crops of the test scenes in class folders (``red_circle/…``).

Each part is an ordinary caption folder (``captions.csv``) with ``scenes.json`` beside it, read
back through :func:`dclip_core.train.datasets.read_caption_folder`, so training and evaluation use
the same readers as a user's data; the ground-truth boxes come from ``scenes.json``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from dclip_core.data.shapes import SCENES_FILE, Scene, load_scenes, write_shapes_dataset
from dclip_core.train.datasets import BoxLabel, CaptionedImage, read_caption_folder

WORLD_FILE = "world.json"
# Bumped when the generator or the layout changes, so a cached world is rebuilt, never reused.
WORLD_FORMAT = 2
CROP_SIZE = 64


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
    # One or two objects per pretraining scene: with more, the set of colours alone tells the
    # captions of a batch apart, and contrastive pretraining never has to learn shapes.
    write_shapes_dataset(
        world.pretrain_dir,
        size.pretrain,
        seed=base + 1,
        caption_style="bag",
        captions_per_scene=3,
        max_objects=2,
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


def write_object_crops(scenes: list[Scene], images_dir: Path, out_dir: Path) -> int:
    """Crop every object of ``scenes`` (box plus a margin) into ``out_dir/<colour>_<shape>/``.

    Returns:
        The number of crops written.
    """
    written = 0
    for scene in scenes:
        with Image.open(images_dir / scene.file) as image:
            image = image.convert("RGB")
            for k, obj in enumerate(scene.objects):
                x1, y1, x2, y2 = obj.box
                # A margin of a quarter side keeps the outline whole and some background in view.
                m = (x2 - x1) // 4
                crop = image.crop(
                    (
                        max(x1 - m, 0),
                        max(y1 - m, 0),
                        min(x2 + m, image.width),
                        min(y2 + m, image.height),
                    )
                ).resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BICUBIC)
                folder = out_dir / obj.label.replace(" ", "_")
                folder.mkdir(parents=True, exist_ok=True)
                crop.save(folder / f"{Path(scene.file).stem}_{k}.png")
                written += 1
    return written


def scenes_by_file(folder: Path) -> dict[str, Scene]:
    """Ground truth of a part, keyed by image file name (for checks against search results)."""
    if not (folder / SCENES_FILE).is_file():
        return {}
    return {scene.file: scene for scene in load_scenes(folder)}
