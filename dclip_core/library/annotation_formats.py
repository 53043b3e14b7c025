"""Annotation files: COCO (captions + instances) and DCLIP's own JSON, read and written.

Writers take what :func:`~dclip_core.library.annotation_transfer.collect` gathered and return
the file text; the same library always gives the same bytes (no dates, fixed key order, ids
numbered in a fixed order, floats written exactly as stored), so export → import → export is
byte-stable. Readers turn a file into an
:class:`~dclip_core.library.annotation_transfer.ImportPlan`, recording every item they cannot use
as a problem; a file that is not the format at all raises :class:`AnnotationFileError`.

COCO, as written (the choices avoid the round-trip bugs seen in other tools, ADR 0021):

- one ``images[]`` list, ids 1..n in ``file_name`` order, shared by ``captions.json`` and
  ``instances.json``; ``file_name`` relative (POSIX separators); ``width``/``height`` always;
- ``categories[]`` ids 1..n in the library's label order, every label listed, used or not;
  categories are matched **by name** on import, never by id;
- annotation ids 1..n, unique per file; ``bbox`` ``[x, y, width, height]`` in pixels, never
  rounded; ``area`` = width × height; ``iscrowd: 0``; ``segmentation: []``;
- on import, ``segmentation`` may be missing, empty, polygons or RLE (boxes are what we keep);
  ``iscrowd: 1`` regions are reported and skipped (they are not one object).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dclip_core.library.annotation_transfer import (
    DROPPED_BOX,
    BoxSpec,
    ImportPlan,
    ImportReport,
    LinkSpec,
    PhotoSpec,
    apply,
    collect,
    export_base,
    resolve,
)
from dclip_core.library.annotations import AnnotationError, Annotations

JSON_FORMAT = "dclip.annotations"
JSON_VERSION = 1
COCO_INFO = {"description": "DCLIP photo annotations", "version": "1.0"}
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_ID = 2**53  # ids beyond this do not survive a round trip through a JSON double
COCO_CAPTIONS = "captions.json"
COCO_INSTANCES = "instances.json"
FileFormat = Literal["coco", "json"]
FORMATS: tuple[str, ...] = ("coco", "json")


class AnnotationFileError(AnnotationError):
    """A file that cannot be read as the annotation format it should be."""


# --- reading files --------------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def load_json(path: Path) -> Any:
    """Parse ``path`` as strict JSON (no NaN/Infinity), refusing huge files before reading."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise AnnotationFileError(
                f"{path} is {size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB an "
                "annotation file may have; split it by folder"
            )
        return json.loads(path.read_bytes().decode("utf-8"), parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AnnotationFileError(f"cannot read {path} as JSON ({exc}); check the file") from exc


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: object) -> bool:
    return _is_int(value) and 1 <= value <= MAX_ID  # type: ignore[operator]


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _list_of(data: dict[str, Any], key: str, path: Path, required: bool = True) -> list[Any]:
    value = data.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise AnnotationFileError(f"{path} has no '{key}' list; is it a COCO annotation file?")
    return value


# --- COCO -----------------------------------------------------------------------------------------


def _coco_images(photos: list[PhotoSpec]) -> list[dict[str, Any]]:
    return [
        {"id": i, "file_name": p.file_name, "width": p.width, "height": p.height}
        for i, p in enumerate(photos, start=1)
    ]


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def write_coco(labels: list[str], photos: list[PhotoSpec]) -> tuple[str, str]:
    """``(captions.json, instances.json)`` texts of these photos (accepted boxes only)."""
    images = _coco_images(photos)
    captions: list[dict[str, Any]] = []
    boxes: list[dict[str, Any]] = []
    category = {name: i for i, name in enumerate(labels, start=1)}
    for image_id, photo in enumerate(photos, start=1):
        for text in photo.captions:
            captions.append({"id": len(captions) + 1, "image_id": image_id, "caption": text})
        for box in photo.boxes:
            if box.status != "accepted":
                continue
            boxes.append(
                {
                    "id": len(boxes) + 1,
                    "image_id": image_id,
                    "category_id": category[box.label],
                    "bbox": [box.x, box.y, box.width, box.height],
                    "area": box.width * box.height,
                    "iscrowd": 0,
                    "segmentation": [],
                }
            )
    categories = [{"id": i, "name": n, "supercategory": ""} for n, i in category.items()]
    head = {"info": COCO_INFO, "licenses": [], "images": images}
    return (
        _dump({**head, "annotations": captions}),
        _dump({**head, "annotations": boxes, "categories": categories}),
    )


def read_coco(paths: list[Path]) -> ImportPlan:
    """Parse COCO captions and/or instances files (one ``images[]`` id space across them)."""
    plan = ImportPlan()
    photos: dict[int, PhotoSpec] = {}
    for path in paths:
        data = load_json(path)
        if not isinstance(data, dict):
            raise AnnotationFileError(f"{path} is not a COCO annotation file (not an object)")
        names = _coco_categories(plan, path, data)
        for number, entry in enumerate(_list_of(data, "images", path), start=1):
            _coco_image(plan, photos, path, number, entry)
        seen_ids: set[int] = set()
        for number, ann in enumerate(_list_of(data, "annotations", path), start=1):
            _coco_annotation(plan, photos, names, path, number, ann, seen_ids)
    plan.photos = list(photos.values())
    return plan


def _coco_categories(plan: ImportPlan, path: Path, data: dict[str, Any]) -> dict[int, str]:
    names: dict[int, str] = {}
    for number, entry in enumerate(_list_of(data, "categories", path, required=False), start=1):
        item = f"{path.name} categories[{number}]"
        if not isinstance(entry, dict) or not _is_id(entry.get("id")):
            plan.problem(item, "needs an integer 'id' >= 1 and a 'name'")
            continue
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            plan.problem(item, "needs a non-empty 'name'")
        elif entry["id"] in names:
            plan.problem(item, f"category id {entry['id']} is used twice")
        elif name.strip() in names.values():
            plan.problem(item, f"category name {name!r} is used twice")
        else:
            names[entry["id"]] = name.strip()
            if name.strip() not in plan.labels:
                plan.labels.append(name.strip())
    return names


def _coco_image(
    plan: ImportPlan, photos: dict[int, PhotoSpec], path: Path, number: int, entry: object
) -> None:
    item = f"{path.name} images[{number}]"
    if not isinstance(entry, dict) or not _is_id(entry.get("id")):
        plan.problem(item, "needs an integer 'id' >= 1")
        return
    file_name = entry.get("file_name")
    if not isinstance(file_name, str):
        plan.problem(item, "needs a 'file_name' string")
        return
    width, height = entry.get("width"), entry.get("height")
    if (width is not None or height is not None) and not (_is_id(width) and _is_id(height)):
        plan.problem(item, "'width' and 'height' must be positive integers")
        return
    image_id = int(entry["id"])
    known = photos.get(image_id)
    if known is not None:
        if known.file_name != file_name or path.name in known.item:
            plan.problem(item, f"image id {image_id} is already {known.file_name}")
        return
    photos[image_id] = PhotoSpec(file_name, width, height, item=f"{item} ({file_name})")


def _coco_annotation(
    plan: ImportPlan,
    photos: dict[int, PhotoSpec],
    names: dict[int, str],
    path: Path,
    number: int,
    ann: object,
    seen_ids: set[int],
) -> None:
    item = f"{path.name} annotations[{number}]"
    if not isinstance(ann, dict) or not _is_id(ann.get("id")):
        plan.problem(item, "needs an integer 'id' >= 1")
        return
    if ann["id"] in seen_ids:
        plan.problem(item, f"annotation id {ann['id']} is used twice")
        return
    seen_ids.add(ann["id"])
    image_id = ann.get("image_id")
    photo = photos.get(image_id) if isinstance(image_id, int) and _is_id(image_id) else None
    if photo is None:
        plan.problem(item, f"image_id {ann.get('image_id')!r} is not in images[]")
        return
    if "caption" in ann:
        if not isinstance(ann["caption"], str):
            plan.problem(item, "'caption' must be a string")
            return
        photo.captions.append(ann["caption"])
        return
    bbox = ann.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_is_number(v) for v in bbox):
        plan.problem(item, "'bbox' must be [x, y, width, height] in pixels")
        return
    if ann.get("iscrowd", 0) not in (0, False):
        plan.problem(item, "iscrowd regions are not single objects; skipped")
        return
    category_id = ann.get("category_id")
    label = names.get(category_id) if isinstance(category_id, int) else None
    if label is None:
        plan.problem(item, f"category_id {ann.get('category_id')!r} is not in categories[]")
        return
    x, y, w, h = (float(v) for v in bbox)
    photo.boxes.append(BoxSpec(x, y, w, h, label))


# --- DCLIP JSON -----------------------------------------------------------------------------------


def write_json(labels: list[str], photos: list[PhotoSpec]) -> str:
    """Our own format: everything, including suggestions, sources and span links."""
    images = []
    for photo in photos:
        boxes = []
        for box in photo.boxes:
            entry: dict[str, Any] = {
                "x": box.x,
                "y": box.y,
                "width": box.width,
                "height": box.height,
                "label": box.label,
                "source": box.source,
                "status": box.status,
            }
            if box.score is not None:
                entry["score"] = box.score
            boxes.append(entry)
        images.append(
            {
                "file_name": photo.file_name,
                "width": photo.width,
                "height": photo.height,
                "captions": photo.captions,
                "boxes": boxes,
                "links": [
                    {"caption": k.caption, "start": k.start, "end": k.end, "box": k.box}
                    for k in photo.links
                ],
            }
        )
    return _dump(
        {"format": JSON_FORMAT, "version": JSON_VERSION, "labels": labels, "images": images}
    )


def read_json(path: Path) -> ImportPlan:
    """Parse a file :func:`write_json` wrote (or another tool wrote to its description)."""
    data = load_json(path)
    if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
        raise AnnotationFileError(
            f"{path} is not a DCLIP annotation file (no format {JSON_FORMAT})"
        )
    if data.get("version") != JSON_VERSION:
        raise AnnotationFileError(
            f"{path} has version {data.get('version')!r}; this DCLIP reads {JSON_VERSION}"
        )
    plan = ImportPlan()
    for number, name in enumerate(_list_of(data, "labels", path), start=1):
        if isinstance(name, str) and name.strip() and name.strip() not in plan.labels:
            plan.labels.append(name.strip())
        else:
            plan.problem(f"{path.name} labels[{number}]", "not a new, non-empty label")
    for number, entry in enumerate(_list_of(data, "images", path), start=1):
        item = f"{path.name} images[{number}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
            plan.problem(item, "needs a 'file_name' string")
            continue
        photo = _json_photo(plan, item, entry)
        if photo is not None:
            plan.photos.append(photo)
    return plan


def _json_photo(plan: ImportPlan, item: str, entry: dict[str, Any]) -> PhotoSpec | None:
    width, height = entry.get("width"), entry.get("height")
    if (width is not None or height is not None) and not (_is_id(width) and _is_id(height)):
        plan.problem(item, "'width' and 'height' must be positive integers")
        return None
    captions, boxes, links = (
        entry.get("captions", []),
        entry.get("boxes", []),
        entry.get("links", []),
    )
    if not isinstance(captions, list) or not isinstance(boxes, list) or not isinstance(links, list):
        plan.problem(item, "'captions', 'boxes' and 'links' must be lists")
        return None
    photo = PhotoSpec(entry["file_name"], width, height, item=f"{item} ({entry['file_name']})")
    photo.captions = [c if isinstance(c, str) else "" for c in captions]
    for index, text in enumerate(captions):
        if not isinstance(text, str):
            plan.problem(f"{photo.item} caption {index + 1}", "must be a string")
    for index, box in enumerate(boxes):
        fields = ("x", "y", "width", "height")
        if not isinstance(box, dict) or not all(_is_number(box.get(f)) for f in fields):
            plan.problem(f"{photo.item} box {index + 1}", "needs numbers x, y, width, height")
            photo.boxes.append(DROPPED_BOX)  # keeps the indexes links refer to
            continue
        score = box.get("score")
        photo.boxes.append(
            BoxSpec(
                float(box["x"]),
                float(box["y"]),
                float(box["width"]),
                float(box["height"]),
                box.get("label"),  # type: ignore[arg-type]  # checked when resolved
                str(box.get("source", "imported")),
                str(box.get("status", "accepted")),
                float(score) if isinstance(score, int | float) and _is_number(score) else None,
            )
        )
    for link in links:
        keys = ("caption", "start", "end", "box")
        if not isinstance(link, dict) or not all(_is_int(link.get(k)) for k in keys):
            plan.problem(f"{photo.item} link", "needs integers caption, start, end, box")
            continue
        photo.links.append(LinkSpec(*(int(link[k]) for k in keys)))
    return photo


# --- whole exports and imports --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSummary:
    files: list[Path]
    base: Path
    photos: int
    annotated: int


def export_files(
    annotations: Annotations, fmt: FileFormat, out: Path, *, folder: Path | None = None
) -> ExportSummary:
    """Write the annotations of the photos under ``folder`` (default: every library folder).

    ``coco`` writes ``captions.json`` and ``instances.json`` into the folder ``out``; ``json``
    writes the file ``out``. ``file_name`` s are relative to the export base (see
    :func:`~dclip_core.library.annotation_transfer.export_base`); files are replaced atomically.
    """
    base = export_base(annotations, folder)
    labels, photos = collect(annotations, base, suggestions=fmt == "json")
    if fmt == "coco":
        captions, instances = write_coco(labels, photos)
        out.mkdir(parents=True, exist_ok=True)
        files = [out / COCO_CAPTIONS, out / COCO_INSTANCES]
        for target, text in zip(files, (captions, instances), strict=True):
            _write_atomically(target, text)
    elif fmt == "json":
        out.parent.mkdir(parents=True, exist_ok=True)
        files = [out]
        _write_atomically(out, write_json(labels, photos))
    else:
        raise AnnotationError(f"unknown annotation format {fmt!r}; use one of {FORMATS}")
    annotated = sum(1 for p in photos if p.captions or p.boxes)
    return ExportSummary(files, base, len(photos), annotated)


def import_files(
    annotations: Annotations,
    fmt: FileFormat,
    paths: list[Path],
    *,
    images: Path | None = None,
    skip_invalid: bool = False,
) -> ImportReport:
    """Read annotation files and apply them (see :mod:`~dclip_core.library.annotation_transfer`).

    ``coco`` takes captions and/or instances files, or a folder holding ``captions.json`` and
    ``instances.json``; ``json`` takes one file. Nothing is written when a problem is found,
    unless ``skip_invalid``; the report lists every problem.
    """
    if fmt == "coco":
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                found = [path / n for n in (COCO_CAPTIONS, COCO_INSTANCES) if (path / n).is_file()]
                if not found:
                    raise AnnotationFileError(
                        f"{path} holds neither {COCO_CAPTIONS} nor {COCO_INSTANCES}; give the files"
                    )
                files.extend(found)
            else:
                files.append(path)
        plan = read_coco(files)
    elif fmt == "json":
        if len(paths) != 1:
            raise AnnotationError("give one DCLIP annotation JSON file to import")
        plan = read_json(paths[0])
    else:
        raise AnnotationError(f"unknown annotation format {fmt!r}; use one of {FORMATS}")
    matched = resolve(annotations, plan, images)
    return apply(annotations, plan, matched, skip_invalid=skip_invalid)


def _write_atomically(target: Path, text: str) -> None:
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        with temp.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise AnnotationError(f"cannot write {target} ({exc}); check the folder") from exc
