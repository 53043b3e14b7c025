"""Small real training data for the DCLIP method's tests: shapes-world images with boxes."""

from __future__ import annotations

from pathlib import Path

from dclip_core.shapes.scenes import write_shapes_dataset
from dclip_core.train.datasets import BoxLabel, CaptionedImage
from dclip_core.train.recipes import Recipe, load_recipe


def shapes_records(folder: Path, count: int, seed: int = 7) -> list[CaptionedImage]:
    """Write ``count`` 64-px scenes and return them as records with their ground-truth boxes."""
    scenes = write_shapes_dataset(folder, count, seed=seed, image_size=64)
    return [
        CaptionedImage(
            path=folder / scene.file,
            captions=list(scene.captions),
            boxes=[BoxLabel(*map(float, o.box), o.label) for o in scene.objects],
            source="shapes",
            image_id=str(scene.scene_id),
        )
        for scene in scenes
    ]


def tiny_recipe(**sections: dict[str, object]) -> Recipe:
    """The quick recipe shrunk for test-tiny: small batches, high learning rates, few epochs."""
    overrides: dict[str, object] = {
        "checkpoint_every": 4,
        "precision": "fp32",
        "teacher": {"batch_size": 8, "epochs": 3, "lr": 3e-3},
        "student": {"batch_size": 8, "epochs": 2, "lr": 1e-4, "grad_accum": 2},
        "data": {"region_source": "gt"},
    }
    for name, values in sections.items():
        base = overrides.get(name)
        overrides[name] = {**base, **values} if isinstance(base, dict) else values
    return load_recipe("quick", overrides=overrides)
