"""Moving annotations in and out of a library, whatever the file format.

The formats (:mod:`dclip_core.library.annotation_formats`: COCO and our own JSON) only turn files
into :class:`PhotoSpec` lists and back. This module does the rest, the same for every format:

Export: 1. pick the photos under a base folder (every usable photo, annotated or not, sorted by
its path relative to the base); 2. read their captions, accepted (or all) boxes and span links;
3. hand them to the format, which writes them.

Import: 1. the format parses the file, noting every item it cannot use as a :class:`Problem`;
2. :func:`resolve` matches each ``file_name`` to a library photo — relative to the base folder
(``--images``) or to each library root; ``..`` and paths outside the roots are refused — and
checks its size and boxes against the photo; 3. :func:`apply` writes what is valid in **one
transaction**, skipping what is already there (a second import of the same file adds nothing).
With problems, nothing is written unless the caller asks to skip the invalid items; either way
each problem is reported, never dropped silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dclip_core.library.annotations import (
    BOX_SOURCES,
    BOX_STATUSES,
    MAX_CAPTION_CHARS,
    MAX_LABEL_CHARS,
    AnnotationError,
    Annotations,
    Caption,
    Edit,
    Photo,
    SpanLink,
    check_box,
    clean_text,
)

MAX_CAPTIONS_PER_PHOTO = 1_000
MAX_BOXES_PER_PHOTO = 10_000


@dataclass(frozen=True)
class BoxSpec:
    x: float
    y: float
    width: float
    height: float
    label: str
    source: str = "imported"
    status: str = "accepted"
    score: float | None = None


# A box a reader could not parse (already reported); it keeps the indexes links refer to.
DROPPED_BOX = BoxSpec(0.0, 0.0, 0.0, 0.0, "", status="dropped")


@dataclass(frozen=True)
class LinkSpec:
    """Characters ``[start, end)`` of caption number ``caption`` name box number ``box``."""

    caption: int
    start: int
    end: int
    box: int


@dataclass
class PhotoSpec:
    """One photo's annotations as a file holds them; ``item`` names it in messages."""

    file_name: str
    width: int | None
    height: int | None
    captions: list[str] = field(default_factory=list)
    boxes: list[BoxSpec] = field(default_factory=list)
    links: list[LinkSpec] = field(default_factory=list)
    item: str = ""


@dataclass(frozen=True)
class Problem:
    """An item of an import file that cannot be applied, and why."""

    item: str
    reason: str

    def __str__(self) -> str:
        return f"{self.item}: {self.reason}"


@dataclass
class ImportPlan:
    """A parsed file: its labels in order, its photos, and the problems found so far."""

    labels: list[str] = field(default_factory=list)
    photos: list[PhotoSpec] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def problem(self, item: str, reason: str) -> None:
        self.problems.append(Problem(item, reason))


@dataclass
class ImportReport:
    """What an import did (``applied`` False: nothing was written)."""

    photos: int = 0
    captions_added: int = 0
    boxes_added: int = 0
    links_added: int = 0
    already_present: int = 0
    problems: list[Problem] = field(default_factory=list)
    applied: bool = False

    def summary(self) -> str:
        added = (
            f"{self.photos} photos: {self.captions_added} captions, {self.boxes_added} boxes, "
            f"{self.links_added} span links added, {self.already_present} already there"
        )
        if not self.applied:
            return f"nothing imported ({len(self.problems)} problems)"
        if self.problems:
            return f"{added}; skipped {len(self.problems)} invalid items"
        return added


# --- export ---------------------------------------------------------------------------------------


def export_base(annotations: Annotations, folder: Path | None) -> Path:
    """The folder exported ``file_name`` s are relative to: ``folder`` (inside a root), the only
    root, or the deepest folder holding every root."""
    roots = [Path(r.path) for r in annotations.store.roots()]
    if not roots:
        raise AnnotationError("the library has no folders yet; run `dclip index FOLDER` first")
    if folder is not None:
        chosen = Path(os.path.abspath(os.path.expanduser(folder)))
        if not any(chosen == r or r in chosen.parents for r in roots):
            known = ", ".join(str(r) for r in roots)
            raise AnnotationError(f"{chosen} is not inside a library folder ({known})")
        return chosen
    return Path(os.path.commonpath([str(r) for r in roots]))


def collect(
    annotations: Annotations, base: Path, *, suggestions: bool = False
) -> tuple[list[str], list[PhotoSpec]]:
    """The label list and every usable photo under ``base`` with its annotations.

    Args:
        suggestions: also export suggested and rejected detector boxes (our JSON keeps them; COCO
            has no place for them).
    """
    statuses = BOX_STATUSES if suggestions else ("accepted",)
    rows = annotations.conn.execute(
        "SELECT id, path, content_hash, width, height FROM images WHERE status = 'ok' "
        "AND content_hash IS NOT NULL"
    ).fetchall()
    photos: list[tuple[str, str, int, int]] = []
    for _image_id, path, content_hash, width, height in rows:
        relative = _relative_to(Path(path), base)
        if relative is not None:
            photos.append((relative, content_hash, width, height))
    photos.sort()
    specs = []
    for file_name, content_hash, width, height in photos:
        captions = annotations.captions_of(content_hash)
        boxes = annotations.boxes_of(content_hash, statuses)
        caption_index = {c.id: i for i, c in enumerate(captions)}
        box_index = {b.id: i for i, b in enumerate(boxes)}
        links = [
            LinkSpec(caption_index[link.caption_id], link.start, link.end, box_index[link.box_id])
            for link in annotations.links_of(content_hash)
            if link.box_id in box_index
        ]
        specs.append(
            PhotoSpec(
                file_name=file_name,
                width=width,
                height=height,
                captions=[c.text for c in captions],
                boxes=[
                    BoxSpec(b.x, b.y, b.width, b.height, b.label, b.source, b.status, b.score)
                    for b in boxes
                ],
                links=links,
            )
        )
    labels = [label.name for label in annotations.labels()]
    for spec in specs:  # labels of accepted boxes are always listed; this only guards old rows
        for box in spec.boxes:
            if box.status == "accepted" and box.label not in labels:
                labels.append(box.label)
    return labels, specs


def _relative_to(path: Path, base: Path) -> str | None:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return None


# --- import ---------------------------------------------------------------------------------------


def resolve(
    annotations: Annotations, plan: ImportPlan, images: Path | None = None
) -> list[tuple[PhotoSpec, Photo]]:
    """Match each photo of ``plan`` to a library photo, checking sizes, captions and boxes.

    Items that cannot be used are recorded in ``plan.problems`` and left out (a bad box drops
    that box, an unknown image its annotations).
    """
    roots = [Path(r.path) for r in annotations.store.roots()]
    bases = [Path(os.path.abspath(os.path.expanduser(images)))] if images else roots
    matched: list[tuple[PhotoSpec, Photo]] = []
    seen: dict[str, str] = {}
    for spec in plan.photos:
        photo = _find_photo(annotations, plan, spec, bases, roots)
        if photo is None:
            continue
        if photo.path in seen:
            plan.problem(spec.item, f"same photo as {seen[photo.path]}; list each image once")
            continue
        seen[photo.path] = spec.item
        if (spec.width, spec.height) != (None, None) and (spec.width, spec.height) != (
            photo.width,
            photo.height,
        ):
            plan.problem(
                spec.item,
                f"size {spec.width}x{spec.height} differs from the photo's {photo.width}x"
                f"{photo.height} (upright); the boxes would land elsewhere — was it edited?",
            )
            continue
        matched.append((_checked(plan, spec, photo), photo))
    return matched


def _find_photo(
    annotations: Annotations,
    plan: ImportPlan,
    spec: PhotoSpec,
    bases: list[Path],
    roots: list[Path],
) -> Photo | None:
    name = spec.file_name.replace("\\", "/")
    if not name or "\x00" in name:
        plan.problem(spec.item, "empty or invalid file_name")
        return None
    if ".." in PurePosixPath(name).parts:
        plan.problem(spec.item, f"file_name {name!r} climbs out with '..'; refused")
        return None
    if os.path.isabs(name) or PurePosixPath(name).is_absolute():
        candidates = [Path(os.path.normpath(name))]
        if not any(r == candidates[0] or r in candidates[0].parents for r in roots):
            plan.problem(spec.item, f"{name} is outside the library folders; refused")
            return None
    else:
        candidates = [Path(os.path.normpath(base / name)) for base in bases]
    found = {
        row.path: row
        for c in candidates
        if (row := annotations.store.image_by_path(str(c))) is not None
    }
    if not found:
        where = (
            "the --images folder" if len(bases) == 1 and bases != roots else "any library folder"
        )
        plan.problem(spec.item, f"{name} is not an indexed photo under {where}")
        return None
    if len(found) > 1:
        plan.problem(spec.item, f"{name} matches photos in several folders; give --images DIR")
        return None
    row = next(iter(found.values()))
    try:
        return annotations.photo(row.id)
    except AnnotationError as exc:
        plan.problem(spec.item, str(exc))
        return None


def _checked(plan: ImportPlan, spec: PhotoSpec, photo: Photo) -> PhotoSpec:
    """``spec`` keeping only the captions, boxes and links that can be applied."""
    if len(spec.captions) > MAX_CAPTIONS_PER_PHOTO or len(spec.boxes) > MAX_BOXES_PER_PHOTO:
        plan.problem(
            spec.item,
            f"{len(spec.captions)} captions and {len(spec.boxes)} boxes for one photo exceed the "
            f"limits ({MAX_CAPTIONS_PER_PHOTO}, {MAX_BOXES_PER_PHOTO})",
        )
        return PhotoSpec(spec.file_name, spec.width, spec.height, item=spec.item)
    captions: dict[int, str] = {}
    for index, text in enumerate(spec.captions):
        try:
            captions[index] = clean_text(text, "caption", MAX_CAPTION_CHARS)
        except AnnotationError as exc:
            plan.problem(f"{spec.item} caption {index + 1}", str(exc))
    boxes: dict[int, BoxSpec] = {}
    for index, box in enumerate(spec.boxes):
        item = f"{spec.item} box {index + 1}"
        if box.status == DROPPED_BOX.status:
            continue
        try:
            x, y, w, h = check_box(box.x, box.y, box.width, box.height, photo.width, photo.height)
            label = clean_text(box.label, "box label", MAX_LABEL_CHARS)
        except AnnotationError as exc:
            plan.problem(item, str(exc))
            continue
        if box.source not in BOX_SOURCES or box.status not in BOX_STATUSES:
            plan.problem(item, f"source {box.source!r} / status {box.status!r} is unknown")
            continue
        if box.status != "accepted" and box.source != "detector":
            plan.problem(item, f"only detector boxes can be {box.status}")
            continue
        boxes[index] = BoxSpec(x, y, w, h, label, box.source, box.status, box.score)
    links = []
    for link in spec.links:
        linked_text = captions.get(link.caption)
        if (
            linked_text is None
            or link.box not in boxes
            or not 0 <= link.start < link.end <= len(linked_text)
        ):
            plan.problem(f"{spec.item} link {link}", "names a missing caption, box or span")
            continue
        links.append(link)
    # Indexes of links refer to the file's lists: keep positions by leaving dropped items out
    # after mapping (apply() maps by the original index).
    return PhotoSpec(
        spec.file_name,
        spec.width,
        spec.height,
        captions=[captions.get(i, "") for i in range(len(spec.captions))],
        boxes=[boxes.get(i, DROPPED_BOX) for i in range(len(spec.boxes))],
        links=links,
        item=spec.item,
    )


def apply(
    annotations: Annotations,
    plan: ImportPlan,
    matched: list[tuple[PhotoSpec, Photo]],
    *,
    skip_invalid: bool = False,
) -> ImportReport:
    """Write the matched photos' annotations in one transaction (see the module docstring)."""
    report = ImportReport(photos=len(matched), problems=list(plan.problems))
    if plan.problems and not skip_invalid:
        return report
    with annotations.batch("import") as edit:
        for name in plan.labels:
            annotations.ensure_label(edit, clean_text(name, "label", MAX_LABEL_CHARS))
        for spec, photo in matched:
            _apply_photo(annotations, edit, spec, photo, report)
    report.applied = True
    return report


def _apply_photo(
    annotations: Annotations, edit: Edit, spec: PhotoSpec, photo: Photo, report: ImportReport
) -> None:
    existing = annotations.captions_of(photo.content_hash)
    caption_ids: dict[int, int] = {}
    by_text = {c.text: c.id for c in existing}
    position = len(existing)
    for index, text in enumerate(spec.captions):
        if not text:
            continue
        if text in by_text:
            report.already_present += 1
        else:
            by_text[text] = edit.create(Caption(0, photo.content_hash, position, text)).id
            position += 1
            report.captions_added += 1
        caption_ids[index] = by_text[text]
    present = {
        (b.x, b.y, b.width, b.height, b.label): b.id
        for b in annotations.boxes_of(photo.content_hash, BOX_STATUSES)
    }
    box_ids: dict[int, int] = {}
    for index, box in enumerate(spec.boxes):
        if box.status == "dropped":
            continue
        key = (box.x, box.y, box.width, box.height, box.label)
        if key in present:
            report.already_present += 1
        else:
            created = annotations.add_box_in(
                edit,
                photo,
                (box.x, box.y, box.width, box.height),
                box.label,
                source=box.source,
                status=box.status,
                score=box.score,
            )
            present[key] = created.id
            report.boxes_added += 1
        box_ids[index] = present[key]
    linked = {
        (k.caption_id, k.start, k.end, k.box_id) for k in annotations.links_of(photo.content_hash)
    }
    for link in spec.links:
        if link.caption not in caption_ids or link.box not in box_ids:
            continue
        link_key = (caption_ids[link.caption], link.start, link.end, box_ids[link.box])
        if link_key in linked:
            report.already_present += 1
            continue
        edit.create(SpanLink(0, *link_key))
        linked.add(link_key)
        report.links_added += 1
