"""A YOLO detector trained on the shapes world's boxes, for the paper's detector-region path.

The method's teacher sees regions proposed by a YOLO detector (the paper: COCO-pretrained YOLOv8x).
No pretrained detector can be downloaded here, and a COCO detector would not know our shapes
anyway, so ``dclip bench shapes --detector yolo`` trains an ultralytics YOLOv8n from its yaml on
the pretraining scenes' ground-truth boxes (one class, "shape"), registers the result as a
detector of its own (``shapes-yolo-<sha12>``, weights verified in the weights cache, like
:func:`dclip_core.shapes.pretrain.register_trained_base`), and the region cache runs it like
any registered detector.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from dclip_core.cancel import CancelToken
from dclip_core.config.paths import atomic_write_bytes, atomic_write_text, get_paths
from dclip_core.errors import TrainingError
from dclip_core.models.detector import (
    DetectorSpec,
    DetectorWeights,
    import_ultralytics,
    register_detector,
)
from dclip_core.runtime.bundle import sha256_file
from dclip_core.runtime.detector import Box, Detector
from dclip_core.shapes.scenes import Scene, load_scenes
from dclip_core.shapes.world import ShapesWorld

SHAPES_DETECTOR = "shapes-yolo"
DATA_FILE = "data.yaml"
DETECTOR_FILE = "detector.pt"


class DetectorTrainingStoppedError(TrainingError):
    """The detector's training was cancelled before its last epoch."""


@dataclasses.dataclass(frozen=True)
class DetectorConfig:
    """Training values of the shapes detector (ultralytics' defaults otherwise)."""

    epochs: int = 12
    imgsz: int = 128  # the scenes' own size
    batch: int = 32
    # Pretraining scenes used (None: all): a few hundred are enough for one class on clean
    # backgrounds, and each epoch over 2000 costs minutes on two cores.
    scenes: int | None = 600
    seed: int = 0


def write_yolo_dataset(world: ShapesWorld, out_dir: Path, scenes: int | None) -> Path:
    """Lay ``world``'s pretraining scenes (train) and fine-tuning scenes (val) out as an
    ultralytics detection dataset with one class; returns its ``data.yaml``."""
    parts = {
        "train": load_scenes(world.pretrain_dir)[:scenes],
        "val": load_scenes(world.finetune_dir)[:100],
    }
    sources = {"train": world.pretrain_dir, "val": world.finetune_dir}
    for part, part_scenes in parts.items():
        images, labels = out_dir / "images" / part, out_dir / "labels" / part
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for scene in part_scenes:
            link = images / scene.file
            if not link.exists():
                try:
                    os.link(sources[part] / scene.file, link)
                except OSError:  # another file system: copy
                    shutil.copyfile(sources[part] / scene.file, link)
            (labels / f"{Path(scene.file).stem}.txt").write_text(_yolo_labels(scene))
    data = out_dir / DATA_FILE
    atomic_write_text(
        data,
        f"path: {out_dir.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: shape\n",
    )
    return data


def _yolo_labels(scene: Scene) -> str:
    """One ``class cx cy w h`` line per object, normalised to the image size."""
    size = scene.image_size
    lines = []
    for obj in scene.objects:
        x1, y1, x2, y2 = obj.box
        cx, cy = (x1 + x2) / 2 / size, (y1 + y2) / 2 / size
        lines.append(f"0 {cx:.6f} {cy:.6f} {(x2 - x1) / size:.6f} {(y2 - y1) / size:.6f}")
    return "\n".join(lines) + "\n"


def train_shapes_detector(
    world: ShapesWorld,
    run_dir: Path,
    config: DetectorConfig,
    *,
    progress: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Train YOLOv8n from its yaml on the world's boxes; returns ``<run_dir>/detector.pt``.

    The file is written last, so an interrupted training leaves nothing a later run would reuse.

    Raises:
        DetectorTrainingStoppedError: ``cancel`` was set (checked after every batch; the
            training starts from scratch next time).
        TrainingError: the training wrote no weights.
    """
    import torch

    say = progress or (lambda _line: None)
    data = write_yolo_dataset(world, run_dir / "dataset", config.scenes)
    import_ultralytics()
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml", task="detect", verbose=False)
    if cancel is not None:

        def stop_when_cancelled(_trainer: object) -> None:
            if cancel.cancelled:
                raise DetectorTrainingStoppedError("the shapes detector's training was stopped")

        model.add_callback("on_train_batch_end", stop_when_cancelled)
    say(f"training the shapes detector ({config.epochs} epochs, {config.scenes or 'all'} scenes)")
    threads = torch.get_num_threads()
    try:
        model.train(
            data=str(data),
            epochs=config.epochs,
            imgsz=config.imgsz,
            batch=config.batch,
            device="cpu",
            workers=0,
            seed=config.seed,
            deterministic=True,
            pretrained=False,
            amp=False,
            plots=False,
            project=str(run_dir),
            name="train",
            exist_ok=True,
            verbose=False,
        )
    finally:
        torch.set_num_threads(threads)  # ultralytics sets its own
    trained = run_dir / "train" / "weights" / "last.pt"  # project / name / weights
    if not trained.is_file():
        raise TrainingError(f"the detector's training wrote no weights ({trained})")
    output = run_dir / DETECTOR_FILE
    atomic_write_bytes(output, trained.read_bytes())  # a few MB
    return output


def register_trained_detector(weights: Path, config: DetectorConfig) -> DetectorSpec:
    """Register trained weights as the detector ``shapes-yolo-<sha12>`` (imported, verified)."""
    digest = sha256_file(weights)
    name = f"{SHAPES_DETECTOR}-{digest[:12]}"
    spec = DetectorSpec(
        name=name,
        description="YOLOv8n trained on the shapes world's boxes (one class)",
        architecture="yolov8n.yaml",
        weights=DetectorWeights(filename=f"{name}.pt", urls=(), sha256=digest),
        imgsz=config.imgsz,
    )
    register_detector(spec, replace=True)
    cached = get_paths().weights_dir / spec.weights.filename  # type: ignore[union-attr]
    if not cached.is_file() or sha256_file(cached) != digest:
        atomic_write_bytes(cached, weights.read_bytes())
    return spec


def box_recall(
    detector: Detector, world_scenes: Sequence[Scene], images_dir: Path, iou: float = 0.5
) -> float:
    """Share of ground-truth objects that some detected box overlaps with IoU ≥ ``iou``."""
    from PIL import Image

    found = total = 0
    for scene in world_scenes:
        with Image.open(images_dir / scene.file) as image:
            boxes = detector.detect(image.convert("RGB"))
        for obj in scene.objects:
            total += 1
            found += any(_iou(obj.box, box) >= iou for box in boxes)
    return found / max(total, 1)


def _iou(a: tuple[int, int, int, int], b: Box) -> float:
    x1, y1 = max(a[0], b.x1), max(a[1], b.y1)
    x2, y2 = min(a[2], b.x2), min(a[3], b.y2)
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter
    return inter / union if union > 0 else 0.0
