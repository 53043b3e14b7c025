"""The fine-tune's data: dataset sources (the training readers plus shapes folders) and records
as JSON, so a run keeps the exact records it split (torch-free).

A ``shapes`` source is a caption folder written by the shapes world (``captions.csv`` with
``scenes.json`` beside it, e.g. the demo library's photos): its scenes' boxes become ground-truth
regions, and its hard negatives are scored on the held-out photos
(:mod:`dclip_core.finetune.probes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dclip_core.errors import ConfigError, DatasetError
from dclip_core.shapes.scenes import SCENES_FILE
from dclip_core.shapes.world import scenes_by_file
from dclip_core.train.datasets import (
    DATASET_FORMATS,
    BoxLabel,
    CaptionedImage,
    DatasetReport,
    DatasetSource,
    read_caption_folder,
    read_sources,
)

SHAPES_FORMAT = "shapes"


def parse_source(spec: str) -> DatasetSource:
    """``FORMAT=PATH[,images=DIR]`` → a source (``shapes`` is accepted besides the readers').

    Raises:
        ConfigError: malformed spec or unknown format.
    """
    fmt, sep, rest = spec.partition("=")
    if not sep or not rest:
        raise ConfigError(
            f"--data {spec!r}: expected FORMAT=PATH[,images=DIR], e.g. folder=~/photos"
        )
    path_text, _, images_text = rest.partition(",images=")
    fmt = fmt.strip()
    known = [*DATASET_FORMATS, SHAPES_FORMAT]
    if fmt not in known:
        raise ConfigError(f"--data {spec!r}: unknown format {fmt!r}; use one of {', '.join(known)}")
    images = Path(images_text).expanduser().absolute() if images_text else None
    return DatasetSource(format=fmt, path=Path(path_text).expanduser().absolute(), images=images)


def _box(corners: Sequence[float], label: str) -> BoxLabel:
    x1, y1, x2, y2 = (float(v) for v in corners)
    return BoxLabel(x1, y1, x2, y2, label)


def read_shapes_folder(folder: Path, report: DatasetReport) -> list[CaptionedImage]:
    """A shapes-world caption folder, each record with its scene's boxes (label = class).

    Raises:
        DatasetError: not a folder, or no ``scenes.json`` in it.
    """
    records = read_caption_folder(folder, report=report)
    if not (folder / SCENES_FILE).is_file():
        raise DatasetError(
            f"{folder} has no {SCENES_FILE}: it is not a shapes-world folder; use folder={folder}"
        )
    scenes = scenes_by_file(folder)
    out = []
    for record in records:
        scene = scenes.get(record.path.name)
        boxes = [_box(o.box, o.label) for o in scene.objects] if scene is not None else None
        out.append(dataclasses.replace(record, boxes=boxes, source=SHAPES_FORMAT))
    return out


def read_finetune_sources(
    sources: Sequence[DatasetSource],
) -> tuple[list[CaptionedImage], DatasetReport]:
    """Read every source in order (shapes folders included) into records and one report.

    Raises:
        DatasetError: a source that is missing or not the format it claims.
    """
    report = DatasetReport()
    records: list[CaptionedImage] = []
    for source in sources:
        if source.format == SHAPES_FORMAT:
            records.extend(read_shapes_folder(source.path, report))
        else:
            found, part = read_sources([source])
            records.extend(found)
            report.merge(part)
    return records, report


def record_to_json(record: CaptionedImage) -> dict[str, Any]:
    """A record as JSON (the split file keeps every record this way)."""
    return {
        "path": str(record.path),
        "captions": list(record.captions),
        "boxes": [list(b) for b in record.boxes] if record.boxes is not None else None,
        "source": record.source,
        "image_id": record.image_id,
    }


def record_from_json(data: dict[str, Any]) -> CaptionedImage:
    boxes = data.get("boxes")
    return CaptionedImage(
        path=Path(data["path"]),
        captions=[str(c) for c in data["captions"]],
        boxes=[_box(b[:4], str(b[4])) for b in boxes] if boxes is not None else None,
        source=str(data.get("source", "folder")),
        image_id=data.get("image_id"),
    )
