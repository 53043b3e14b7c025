"""Training data: readers for the caption formats DCLIP trains on.

Every reader returns :class:`~dclip_core.train.records.CaptionedImage` records (an image with all
its captions, optional ground-truth boxes, and its Karpathy split when the source knows it; the
record types live in :mod:`dclip_core.train.records`) and notes what it had to skip
— a missing image, a row without caption, a broken line — in a :class:`DatasetReport` instead of
failing: one bad row in a 400K-line CSV must not stop a fine-tune. Only a file that is not the
format at all raises :class:`~dclip_core.errors.DatasetError`.

Formats are registered by name in :data:`DATASET_FORMATS` (``coco``, ``karpathy``, ``flickr30k``,
``cc``, ``folder``, ``library``); :func:`read_sources` reads several and removes Karpathy test/val
images from training. The library's annotations come in through :func:`read_annotations` (see its
docstring); ``library=PATH`` reads them from the user's library (:func:`read_library`).

This module is torch-free, so the readers can preview a dataset without loading torch; batching
(which sample, which caption, on which rank) is :mod:`dclip_core.train.batching`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dclip_core.errors import DatasetError, LibraryError
from dclip_core.train.records import BoxLabel, CaptionedImage, DatasetReport, SkippedItem

__all__ = [
    "DATASET_FORMATS",
    "AnnotatedImage",
    "BoxLabel",
    "CaptionedImage",
    "DatasetReport",
    "DatasetSource",
    "SkippedItem",
    "karpathy_eval_keys",
    "read_annotations",
    "read_caption_folder",
    "read_coco_captions",
    "read_conceptual_captions",
    "read_flickr30k_csv",
    "read_karpathy",
    "read_library",
    "read_sources",
    "training_records",
]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
EVAL_SPLITS = ("test", "val")


def _clean_captions(captions: Iterable[object]) -> list[str]:
    return [c.strip() for c in captions if isinstance(c, str) and c.strip()]


def _numeric_id(name: str) -> str:
    """COCO and Flickr file names end in the photo's number; compare ids without zero padding."""
    match = re.search(r"(\d+)$", Path(name).stem)
    return str(int(match.group(1))) if match else Path(name).stem


def _add(
    records: list[CaptionedImage], report: DatasetReport, record: CaptionedImage, item: str
) -> None:
    """Keep ``record`` if its image exists and it has a caption; else note why not."""
    if not record.captions:
        report.skip(record.source, item, "no caption")
    elif not record.path.is_file():
        report.skip(record.source, str(record.path), "missing image")
    else:
        records.append(record)
        report.read += 1


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {what} {path}: {exc}; check the path and format") from exc


# --- readers -------------------------------------------------------------------------------------


def read_coco_captions(
    captions_json: Path,
    images_dir: Path,
    *,
    instances_json: Path | None = None,
    report: DatasetReport | None = None,
) -> list[CaptionedImage]:
    """Read COCO ``captions_*.json`` (optionally with ``instances_*.json`` boxes as ground truth).

    Args:
        captions_json: e.g. ``annotations/captions_train2017.json``.
        images_dir: the folder holding the ``file_name`` images, e.g. ``train2017/``.
        instances_json: adds the COCO object boxes (crowd boxes left out) as ``boxes``.
        report: collects skipped items; pass one to see them.
    """
    report = report if report is not None else DatasetReport()
    data = _load_json(captions_json, "COCO captions file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"{captions_json} is not a COCO captions file (no 'images' list)")
    captions: dict[Any, list[str]] = {}
    for ann in data.get("annotations", []):
        if isinstance(ann, dict):
            captions.setdefault(ann.get("image_id"), []).append(ann.get("caption"))  # type: ignore[arg-type]
    boxes = _coco_boxes(instances_json) if instances_json else None
    records: list[CaptionedImage] = []
    for image in data["images"]:
        if not isinstance(image, dict) or "file_name" not in image:
            report.skip("coco", repr(image)[:80], "broken entry")
            continue
        image_id = image.get("id")
        record = CaptionedImage(
            path=Path(images_dir) / image["file_name"],
            captions=_clean_captions(captions.get(image_id, [])),
            boxes=boxes.get(image_id, []) if boxes is not None else None,
            source="coco",
            image_id=str(image_id),
        )
        _add(records, report, record, f"{captions_json.name} image {image_id}")
    return records


def _coco_boxes(instances_json: Path) -> dict[Any, list[BoxLabel]]:
    data = _load_json(instances_json, "COCO instances file")
    names = {c["id"]: c["name"] for c in data.get("categories", []) if isinstance(c, dict)}
    boxes: dict[Any, list[BoxLabel]] = {}
    for ann in data.get("annotations", []):
        bbox = ann.get("bbox") if isinstance(ann, dict) else None
        if not bbox or len(bbox) != 4 or ann.get("iscrowd"):
            continue
        x, y, w, h = (float(v) for v in bbox)
        label = names.get(ann.get("category_id"), str(ann.get("category_id")))
        boxes.setdefault(ann.get("image_id"), []).append(BoxLabel(x, y, x + w, y + h, label))
    return boxes


def read_karpathy(
    split_json: Path,
    images_root: Path,
    *,
    splits: Sequence[str] | None = None,
    report: DatasetReport | None = None,
) -> list[CaptionedImage]:
    """Read a Karpathy split file (``dataset_coco.json``, ``dataset_flickr30k.json``).

    Args:
        split_json: the Karpathy JSON.
        images_root: COCO: the folder holding ``train2014/`` and ``val2014/`` (the entries'
            ``filepath``); Flickr30k: the folder of the images.
        splits: keep only these splits (``train``, ``restval``, ``val``, ``test``); all by default.
        report: collects skipped items.
    """
    report = report if report is not None else DatasetReport()
    data = _load_json(split_json, "Karpathy split file")
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError(f"{split_json} is not a Karpathy split file (no 'images' list)")
    family = str(data.get("dataset", "coco"))
    records: list[CaptionedImage] = []
    for entry in data["images"]:
        if not isinstance(entry, dict) or "filename" not in entry:
            report.skip(family, repr(entry)[:80], "broken entry")
            continue
        if splits is not None and entry.get("split") not in splits:
            continue
        folder = Path(images_root) / entry.get("filepath", "")
        raw = [s.get("raw") for s in entry.get("sentences", []) if isinstance(s, dict)]
        image_id = entry.get("cocoid")
        record = CaptionedImage(
            path=folder / entry["filename"],
            captions=_clean_captions(raw),
            split=entry.get("split"),
            source=family,
            image_id=str(image_id) if image_id is not None else _numeric_id(entry["filename"]),
        )
        _add(records, report, record, f"{split_json.name} {entry['filename']}")
    return records


def read_flickr30k_csv(
    results_csv: Path, images_dir: Path, *, report: DatasetReport | None = None
) -> list[CaptionedImage]:
    """Read Flickr30k captions: the Kaggle ``results.csv`` (``image| n| caption``) or the
    original ``results_20130124.token`` (``image#n<TAB>caption``).

    Rows that do not split into image and caption are reported as ``broken row`` with their line
    number (the Kaggle file has such a row).
    """
    report = report if report is not None else DatasetReport()
    try:
        lines = Path(results_csv).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read Flickr30k captions {results_csv}: {exc}") from exc
    captions: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or (number == 1 and line.lower().startswith("image_name")):
            continue
        if "|" in line:
            fields = [f.strip() for f in line.split("|", 2)]
            name, caption = (fields[0], fields[2]) if len(fields) == 3 else ("", "")
        elif "\t" in line and "#" in line.split("\t", 1)[0]:
            head, caption = line.split("\t", 1)
            name = head.rsplit("#", 1)[0].strip()
        else:
            name, caption = "", ""
        if not name or not caption.strip():
            report.skip("flickr30k", f"{Path(results_csv).name} line {number}", "broken row")
            continue
        captions.setdefault(name, []).append(caption)
    records: list[CaptionedImage] = []
    for name, texts in captions.items():
        record = CaptionedImage(
            path=Path(images_dir) / name,
            captions=_clean_captions(texts),
            source="flickr30k",
            image_id=_numeric_id(name),
        )
        _add(records, report, record, name)
    return records


def read_conceptual_captions(
    tsv: Path, images_dir: Path, *, report: DatasetReport | None = None
) -> list[CaptionedImage]:
    """Read Conceptual Captions (``caption<TAB>url`` per line) with images downloaded beside it.

    Row ``i`` (0-based, as img2dataset numbers its keys) is the image in ``images_dir`` or any
    subfolder whose name is ``i`` with any zero padding (``000000012.jpg``, ``12.png``); failing
    that, an image named like the URL's last path segment. Rows whose image was never downloaded
    (a common fate of CC URLs) are reported as ``missing image``.
    """
    report = report if report is not None else DatasetReport()
    by_number: dict[int, Path] = {}
    by_name: dict[str, Path] = {}
    for path in sorted(Path(images_dir).rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            by_name.setdefault(path.name, path)
            if path.stem.isdigit():
                by_number.setdefault(int(path.stem), path)
    try:
        lines = Path(tsv).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read Conceptual Captions TSV {tsv}: {exc}") from exc
    records: list[CaptionedImage] = []
    for row, line in enumerate(lines):
        fields = line.split("\t")
        if len(fields) < 2:
            report.skip("cc", f"{Path(tsv).name} line {row + 1}", "broken row")
            continue
        caption, url = fields[0], fields[1].strip()
        url_name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        found = by_number.get(row) or by_name.get(url_name)
        if found is None:
            report.skip("cc", f"{Path(tsv).name} line {row + 1} ({url})", "missing image")
            continue
        record = CaptionedImage(
            path=found, captions=_clean_captions([caption]), source="cc", image_id=str(row)
        )
        _add(records, report, record, f"{Path(tsv).name} line {row + 1}")
    return records


def read_caption_folder(
    folder: Path, *, report: DatasetReport | None = None
) -> list[CaptionedImage]:
    """Read a folder of images with captions beside them.

    Captions come from ``photo.txt`` next to ``photo.jpg`` (one caption per non-empty line), and/or
    from a ``captions.csv`` at the top of the folder with ``file`` and ``caption`` columns (paths
    relative to the folder; several rows per file allowed). Images without any caption are
    reported as ``no caption``.
    """
    report = report if report is not None else DatasetReport()
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"caption folder {folder} does not exist or is not a folder")
    captions: dict[Path, list[str]] = {}
    csv_path = folder / "captions.csv"
    if csv_path.is_file():
        for name, caption in _csv_captions(csv_path, report):
            captions.setdefault((folder / name).resolve(), []).append(caption)
    images = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
    records: list[CaptionedImage] = []
    for image in images:
        texts = list(captions.pop(image.resolve(), []))
        sidecar = image.with_suffix(".txt")
        if sidecar.is_file():
            texts.extend(sidecar.read_text(encoding="utf-8", errors="replace").splitlines())
        record = CaptionedImage(
            path=image,
            captions=_clean_captions(texts),
            source="folder",
            image_id=str(image.relative_to(folder)),
        )
        _add(records, report, record, str(image))
    for missing in captions:
        report.skip("folder", str(missing), "missing image")
    return records


def _csv_captions(csv_path: Path, report: DatasetReport) -> list[tuple[str, str]]:
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    file_col = next((header.index(n) for n in ("file", "filename", "image") if n in header), None)
    cap_col = header.index("caption") if "caption" in header else None
    if file_col is None or cap_col is None:
        raise DatasetError(f"{csv_path} needs a header row with 'file' and 'caption' columns")
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) <= max(file_col, cap_col) or not row[file_col].strip():
            report.skip("folder", f"{csv_path.name} line {number}", "broken row")
            continue
        out.append((row[file_col].strip(), row[cap_col]))
    return out


class AnnotatedImage(Protocol):
    """One annotated photo as the library's annotation store yields it."""

    @property
    def path(self) -> Path: ...

    @property
    def captions(self) -> Sequence[str]: ...

    @property
    def boxes(self) -> Sequence[tuple[float, float, float, float, str]]: ...


def read_annotations(
    annotated: Iterable[AnnotatedImage], *, report: DatasetReport | None = None
) -> list[CaptionedImage]:
    """Turn the library's annotations into training records.

    The store offers an iterable of objects with ``path``, ``captions`` and ``boxes`` (``(x1, y1,
    x2, y2, label)`` in image pixels), as :class:`AnnotatedImage` says; this function is the one
    place that turns them into records. User boxes become ground truth, so a ``gt`` or ``yolo+gt``
    region cache uses them.
    """
    report = report if report is not None else DatasetReport()
    records: list[CaptionedImage] = []
    for item in annotated:
        boxes = [
            BoxLabel(float(b[0]), float(b[1]), float(b[2]), float(b[3]), str(b[4]))
            for b in item.boxes
        ] or None
        record = CaptionedImage(
            path=Path(item.path),
            captions=_clean_captions(item.captions),
            boxes=boxes,
            source="library",
            image_id=str(item.path),
        )
        _add(records, report, record, str(item.path))
    return records


def read_library(path: Path, *, report: DatasetReport | None = None) -> list[CaptionedImage]:
    """Read the annotated photos of a library: captions and accepted boxes.

    Args:
        path: a library folder (holding ``library.sqlite3``): all of its annotated photos; or a
            photo folder: the annotated photos under it in the user's library
            (``get_paths().library_dir``, which ``--home``/``DCLIP_HOME`` move).
        report: collects skipped items (photos with boxes but no caption are ``no caption``).
    """
    from dclip_core.config.paths import get_paths
    from dclip_core.library.annotations import Annotations
    from dclip_core.library.schema import DB_FILE_NAME
    from dclip_core.library.store import LibraryStore

    path = Path(path).expanduser().absolute()
    if (path / DB_FILE_NAME).is_file():
        library_dir, folder = path, None
    else:
        library_dir, folder = get_paths().library_dir, str(path)
        if not (library_dir / DB_FILE_NAME).is_file():
            raise DatasetError(
                f"there is no photo library at {library_dir}; index {path} with `dclip index` "
                "and annotate it first"
            )
    try:
        store = LibraryStore(library_dir)
    except LibraryError as exc:
        raise DatasetError(str(exc)) from exc
    try:
        annotated = Annotations(store).annotated(folder)
    finally:
        store.close()
    if folder is not None and not annotated:
        raise DatasetError(
            f"no annotated photos under {folder} in the library {library_dir}; annotate some "
            "(or import annotations with `dclip annotate import`) first"
        )
    return read_annotations(annotated, report=report)


# --- sources, Karpathy exclusion, splits ---------------------------------------------------------


@dataclass(frozen=True)
class DatasetSource:
    """One dataset to read: a registered ``format`` and its files (see :data:`DATASET_FORMATS`)."""

    format: str
    path: Path
    images: Path | None = None


Reader = Callable[[DatasetSource, DatasetReport], list[CaptionedImage]]


def _images_of(source: DatasetSource) -> Path:
    if source.images is None:
        raise DatasetError(f"dataset {source.path} ({source.format}) needs its image folder too")
    return source.images


DATASET_FORMATS: dict[str, Reader] = {
    "coco": lambda s, r: read_coco_captions(s.path, _images_of(s), report=r),
    "karpathy": lambda s, r: read_karpathy(s.path, _images_of(s), report=r),
    "flickr30k": lambda s, r: read_flickr30k_csv(s.path, _images_of(s), report=r),
    "cc": lambda s, r: read_conceptual_captions(s.path, _images_of(s), report=r),
    "folder": lambda s, r: read_caption_folder(s.path, report=r),
    "library": lambda s, r: read_library(s.path, report=r),
}


def karpathy_eval_keys(
    split_json: Path, splits: Sequence[str] = EVAL_SPLITS
) -> set[tuple[str, str]]:
    """``(family, image_id)`` of the images in the Karpathy ``splits`` (test and val by default)."""
    data = _load_json(split_json, "Karpathy split file")
    family = str(data.get("dataset", "coco"))
    keys = set()
    for entry in data.get("images", []):
        if isinstance(entry, dict) and entry.get("split") in splits and "filename" in entry:
            cocoid = entry.get("cocoid")
            keys.add(
                (family, str(cocoid) if cocoid is not None else _numeric_id(entry["filename"]))
            )
    return keys


def training_records(
    records: Iterable[CaptionedImage],
    eval_keys: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
    *,
    report: DatasetReport | None = None,
) -> list[CaptionedImage]:
    """Drop the images evaluation is done on: records whose own split is ``test``/``val``, and
    records whose ``(source, image_id)`` is in ``eval_keys`` (from :func:`karpathy_eval_keys`) —
    e.g. Karpathy test images that also sit in COCO ``train2017``."""
    kept = []
    for record in records:
        if record.split in EVAL_SPLITS or (record.source, record.image_id or "") in eval_keys:
            if report is not None:
                report.excluded_eval += 1
            continue
        kept.append(record)
    return kept


def read_sources(
    sources: Iterable[DatasetSource], *, karpathy: Iterable[Path] = ()
) -> tuple[list[CaptionedImage], DatasetReport]:
    """Read every source and keep the training images (Karpathy test/val removed).

    Args:
        sources: datasets to read, in order.
        karpathy: Karpathy split files whose test/val images must not be trained on.

    Raises:
        DatasetError: an unknown format or a file that is not the format it claims.
    """
    report = DatasetReport()
    records: list[CaptionedImage] = []
    for source in sources:
        reader = DATASET_FORMATS.get(source.format)
        if reader is None:
            known = ", ".join(DATASET_FORMATS)
            raise DatasetError(f"unknown dataset format {source.format!r}; use one of {known}")
        records.extend(reader(source, report))
    keys: set[tuple[str, str]] = set()
    for split_json in karpathy:
        keys |= karpathy_eval_keys(split_json)
    return training_records(records, keys, report=report), report
