"""The shapes world: seeded scenes of coloured shapes with exact captions and boxes.

No pretrained weights can be downloaded on our build machines, so a model trained by our own code
must learn *something* for search and the method to be measured. Each scene has 1–4 objects
(shape × colour × size) on a varied background; captions name the objects and their left-to-right
order ("a small red circle left of a large blue star"), so that retrieval needs attribute binding
and spatial relations, the fine-grained alignment the DCLIP teacher is meant to add. Each scene with
two or more objects also has a *hard negative* caption that differs in one binding (two colours
swapped, or left/right swapped).

:func:`write_shapes_dataset` writes ordinary image files plus ``captions.csv`` (``file,caption``:
one row per caption, the caption-folder format of :mod:`dclip_core.train.datasets`) and
``scenes.json`` (ground truth: objects with boxes, captions, hard negatives) — so every real code
path (dataset readers, indexing, search) is used on it.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from dclip_core.config.paths import atomic_write_text

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "diamond", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "green": (40, 165, 60),
    "blue": (40, 80, 215),
    "yellow": (240, 205, 30),
    "purple": (135, 55, 175),
    "orange": (245, 125, 25),
}
SIZES: dict[str, tuple[float, float]] = {"small": (0.17, 0.23), "large": (0.32, 0.40)}
BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "noise", "stripes")

# Muted tones keep backgrounds from being mistaken for objects of a named colour.
_BACKGROUND_TONES: tuple[tuple[int, int, int], ...] = (
    (235, 235, 230),
    (200, 200, 205),
    (120, 120, 125),
    (60, 60, 65),
    (210, 200, 185),
    (175, 190, 185),
)

CaptionStyle = Literal["relational", "bag"]

SCENES_FILE = "scenes.json"
CAPTIONS_FILE = "captions.csv"


@dataclass(frozen=True)
class ShapeObject:
    shape: str
    colour: str
    size: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels

    @property
    def phrase(self) -> str:
        return f"a {self.size} {self.colour} {self.shape}"

    @property
    def label(self) -> str:
        """The zero-shot class of the object, e.g. ``"red circle"``."""
        return f"{self.colour} {self.shape}"

    @property
    def center_x(self) -> float:
        return (self.box[0] + self.box[2]) / 2


@dataclass
class Scene:
    """One image of the world, with everything a test or a benchmark may check."""

    scene_id: int
    image_size: int
    background: str
    background_tone: tuple[int, int, int]
    objects: list[ShapeObject]
    captions: list[str] = field(default_factory=list)
    hard_negative: str | None = None
    file: str = ""

    def has(self, colour: str | None = None, shape: str | None = None) -> bool:
        return any(
            (colour is None or o.colour == colour) and (shape is None or o.shape == shape)
            for o in self.objects
        )


# --- captions ------------------------------------------------------------------------------------


def _left_to_right(objects: Sequence[ShapeObject]) -> list[ShapeObject]:
    return sorted(objects, key=lambda o: o.center_x)


def describe(objects: Sequence[ShapeObject], style: int = 0) -> str:
    """A caption of ``objects`` in one of several styles; all styles keep left-to-right order."""
    ordered = _left_to_right(objects)
    phrases = [o.phrase for o in ordered]
    if len(phrases) == 1:
        return [phrases[0], f"{phrases[0]} on its own", f"a picture of {phrases[0]}"][style % 3]
    if style % 3 == 0:
        return " left of ".join(phrases)
    if style % 3 == 1:
        return " right of ".join(reversed(phrases))
    return "from left to right: " + ", ".join(phrases[:-1]) + " and " + phrases[-1]


def describe_bag(objects: Sequence[ShapeObject], rng: random.Random) -> str:
    """An unordered "bag of objects" caption, like web alt-text: no left/right, sizes sometimes.

    The pretraining half of the world is captioned this way, so the base model learns what the
    objects are but not where they are; relations are left for fine-tuning to teach.
    """
    phrases = [describe_object(o, rng) for o in rng.sample(list(objects), len(objects))]
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def describe_object(obj: ShapeObject, rng: random.Random) -> str:
    """One object alone, with or without its size: ``"a small red circle"``, ``"a red circle"``."""
    return obj.phrase if rng.random() < 0.5 else f"a {obj.colour} {obj.shape}"


def hard_negative(objects: Sequence[ShapeObject], rng: random.Random) -> str | None:
    """A caption that differs from the truth in exactly one binding, or None for one object."""
    ordered = _left_to_right(objects)
    if len(ordered) < 2:
        return None
    i, j = sorted(rng.sample(range(len(ordered)), 2))
    a, b = ordered[i], ordered[j]
    swapped = list(ordered)
    if a.colour != b.colour and rng.random() < 0.5:
        swapped[i] = ShapeObject(a.shape, b.colour, a.size, a.box)
        swapped[j] = ShapeObject(b.shape, a.colour, b.size, b.box)
    elif a.phrase != b.phrase:
        # Swap positions: the same objects, the wrong left/right order.
        swapped[i] = ShapeObject(b.shape, b.colour, b.size, a.box)
        swapped[j] = ShapeObject(a.shape, a.colour, a.size, b.box)
    else:
        return None
    return describe(swapped, style=0)


# --- rendering -----------------------------------------------------------------------------------


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        s = r * 0.85
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        return [
            (cx + r * math.cos(a), cy + r * math.sin(a))
            for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)
        ]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.75, cy), (cx, cy + r), (cx - r * 0.75, cy)]
    if shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        return points
    if shape == "cross":
        t = r * 0.34
        return [
            (cx - t, cy - r), (cx + t, cy - r), (cx + t, cy - t), (cx + r, cy - t),
            (cx + r, cy + t), (cx + t, cy + t), (cx + t, cy + r), (cx - t, cy + r),
            (cx - t, cy + t), (cx - r, cy + t), (cx - r, cy - t), (cx - t, cy - t),
        ]  # fmt: skip
    raise ValueError(f"unknown shape {shape!r}")


def _background(
    kind: str, tone: tuple[int, int, int], size: int, rng: random.Random
) -> Image.Image:
    image = Image.new("RGB", (size, size), tone)
    if kind == "gradient":
        other = rng.choice(_BACKGROUND_TONES)
        ramp = Image.linear_gradient("L").resize((size, size))
        if rng.random() < 0.5:
            ramp = ramp.transpose(Image.Transpose.ROTATE_90)
        image = Image.composite(Image.new("RGB", (size, size), other), image, ramp)
    elif kind == "noise":
        # Pillow's effect_noise has an unseeded RNG of its own; numpy's seeded one keeps scenes
        # reproducible.
        grain = np.random.default_rng(rng.getrandbits(32)).normal(0, 18, (size, size, 1))
        image = Image.fromarray(np.clip(np.asarray(image) + grain, 0, 255).astype(np.uint8))
    elif kind == "stripes":
        draw = ImageDraw.Draw(image)
        other = rng.choice(_BACKGROUND_TONES)
        step = rng.randint(8, 16)
        for x in range(-size, size, step * 2):
            draw.polygon(
                [(x, 0), (x + step, 0), (x + step + size, size), (x + size, size)], fill=other
            )
    return image


def render(scene: Scene, rng: random.Random) -> Image.Image:
    """Draw ``scene`` (2× supersampled for smooth edges)."""
    scale = 2
    big = scene.image_size * scale
    image = _background(scene.background, scene.background_tone, big, rng)
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        x1, y1, x2, y2 = (v * scale for v in obj.box)
        colour = COLOURS[obj.colour]
        if obj.shape == "circle":
            draw.ellipse([x1, y1, x2, y2], fill=colour)
        else:
            r = (x2 - x1) / 2
            draw.polygon(_polygon(obj.shape, (x1 + x2) / 2, (y1 + y2) / 2, r), fill=colour)
    image = image.resize((scene.image_size, scene.image_size), Image.Resampling.LANCZOS)
    return image.filter(ImageFilter.SMOOTH) if rng.random() < 0.2 else image


# --- scenes --------------------------------------------------------------------------------------


def _place(
    n: int, image_size: int, rng: random.Random
) -> list[tuple[str, tuple[int, int, int, int]]] | None:
    """Sizes and non-overlapping boxes with distinct centres along x (so left/right is defined)."""
    placed: list[tuple[str, tuple[int, int, int, int]]] = []
    for _ in range(n):
        for _attempt in range(50):
            size_name = rng.choice(list(SIZES))
            lo, hi = SIZES[size_name]
            side = int(image_size * rng.uniform(lo, hi))
            x1 = rng.randint(1, image_size - side - 1)
            y1 = rng.randint(1, image_size - side - 1)
            box = (x1, y1, x1 + side, y1 + side)
            overlaps = any(
                box[0] < b[2] + 2 and b[0] < box[2] + 2 and box[1] < b[3] + 2 and b[1] < box[3] + 2
                for _, b in placed
            )
            # Centres at least 8 px apart in x: "left of" must be unambiguous to a viewer.
            too_close = any(abs((box[0] + box[2]) - (b[0] + b[2])) / 2 < 8 for _, b in placed)
            if not overlaps and not too_close:
                placed.append((size_name, box))
                break
        else:
            return None
    return placed


def generate_scenes(
    count: int,
    *,
    seed: int = 0,
    image_size: int = 128,
    min_objects: int = 1,
    max_objects: int = 4,
    shapes: Sequence[str] = SHAPES,
    colours: Sequence[str] = tuple(COLOURS),
    captions_per_scene: int = 3,
    first_id: int = 0,
    caption_style: CaptionStyle = "relational",
) -> Iterator[tuple[Scene, Image.Image]]:
    """Yield ``count`` scenes with their rendered images, deterministically from ``seed``.

    Args:
        caption_style: ``relational`` captions name objects in left-to-right order (the
            fine-tuning and evaluation data); ``bag`` captions are the pretraining data's, like
            web alt-text: the first half of them list every object in random order
            (:func:`describe_bag`), the rest name one object of the scene on its own — so that a
            query naming one object learns to find the scenes that contain it. Hard negatives
            are relational in both.
    """
    rng = random.Random(seed)
    produced = 0
    while produced < count:
        n = rng.randint(min_objects, max_objects)
        placement = _place(n, image_size, rng)
        if placement is None:
            continue
        objects = [
            ShapeObject(rng.choice(list(shapes)), rng.choice(list(colours)), size_name, box)
            for size_name, box in placement
        ]
        scene = Scene(
            scene_id=first_id + produced,
            image_size=image_size,
            background=rng.choice(BACKGROUNDS),
            background_tone=rng.choice(_BACKGROUND_TONES),
            objects=objects,
        )
        if caption_style == "bag":
            single = captions_per_scene // 2
            scene.captions = [
                describe_bag(objects, rng) for _ in range(captions_per_scene - single)
            ] + [describe_object(rng.choice(objects), rng) for _ in range(single)]
        else:
            styles = rng.sample(range(3), k=min(captions_per_scene, 3))
            scene.captions = [describe(objects, style) for style in styles]
        scene.hard_negative = hard_negative(objects, rng)
        yield scene, render(scene, rng)
        produced += 1


def write_shapes_dataset(
    out_dir: Path,
    count: int,
    *,
    seed: int = 0,
    image_format: str = "png",
    **scene_options: object,
) -> list[Scene]:
    """Write ``count`` scenes as image files + ``captions.csv`` + ``scenes.json`` into ``out_dir``.

    Returns:
        The scenes, with ``file`` set to the image's name relative to ``out_dir``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    scenes: list[Scene] = []
    for scene, image in generate_scenes(count, seed=seed, **scene_options):  # type: ignore[arg-type]
        scene.file = f"scene_{scene.scene_id:06d}.{image_format}"
        image.save(out_dir / scene.file)
        scenes.append(scene)
    with (out_dir / CAPTIONS_FILE).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "caption"])
        for scene in scenes:
            for caption in scene.captions:
                writer.writerow([scene.file, caption])
    atomic_write_text(
        out_dir / SCENES_FILE,
        json.dumps({"seed": seed, "scenes": [asdict(s) for s in scenes]}, indent=1),
    )
    return scenes


def load_scenes(folder: Path) -> list[Scene]:
    """Read the ground truth written by :func:`write_shapes_dataset`."""
    data = json.loads((folder / SCENES_FILE).read_text(encoding="utf-8"))
    scenes = []
    for raw in data["scenes"]:
        objects = [
            ShapeObject(o["shape"], o["colour"], o["size"], tuple(o["box"])) for o in raw["objects"]
        ]
        raw = {**raw, "objects": objects, "background_tone": tuple(raw["background_tone"])}
        scenes.append(Scene(**raw))
    return scenes
