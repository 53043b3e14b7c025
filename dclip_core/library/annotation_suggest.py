"""Detector suggestions: boxes a detector proposes, stored for a person to accept or reject.

1. Each usable photo under the folder is decoded upright (EXIF orientation applied, as boxes are
   stored) and given to the detector (any :class:`~dclip_core.runtime.detector.Detector`: the
   bundle's ONNX detector, or a torch one the CLI builds).
2. Boxes are clipped to the photo; a box overlapping one the photo already has with the same label
   (IoU >= :data:`SAME_BOX_IOU`, whatever its status) is skipped, so running the detector again
   adds nothing twice and never brings back a box someone rejected.
3. Each photo's suggestions are committed in their own transaction: stopping (Ctrl-C, cancel)
   keeps every photo done so far.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dclip_core.cancel import CancelToken
from dclip_core.errors import ImageDecodeError
from dclip_core.library.annotations import BOX_STATUSES, AnnotationError, Annotations, Box
from dclip_core.runtime.detector import Detector
from dclip_core.runtime.images import load_image

SAME_BOX_IOU = 0.7


@dataclass
class SuggestReport:
    photos: int = 0
    done: int = 0
    suggested: int = 0
    skipped_known: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    stopped: bool = False


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else float(a == b)


def suggest_boxes(
    annotations: Annotations,
    detector: Detector,
    folder: Path | None = None,
    *,
    progress: Callable[[SuggestReport, str], None] | None = None,
    cancel: CancelToken | None = None,
) -> SuggestReport:
    """Run ``detector`` over the photos under ``folder`` (default: all) and store its boxes as
    suggestions (see the module docstring)."""
    where = "status = 'ok' AND content_hash IS NOT NULL"
    args: list[object] = []
    if folder is not None:
        from dclip_core.library.store import like_prefix

        base = str(Path(folder).expanduser().absolute())
        where += " AND (folder = ? OR folder LIKE ? ESCAPE '\\')"
        args += [base, like_prefix(base)]
    ids = [
        (r[0], r[1])
        for r in annotations.conn.execute(
            f"SELECT id, path FROM images WHERE {where} ORDER BY path", args
        )
    ]
    report = SuggestReport(photos=len(ids))
    for image_id, path in ids:
        if cancel is not None and cancel.cancelled:
            report.stopped = True
            break
        try:
            photo = annotations.photo(image_id)
            image = load_image(Path(path))
            found = detector.detect(image.convert("RGB"))
        except (OSError, ImageDecodeError, AnnotationError) as exc:
            report.failed.append((path, str(exc)))
        else:
            known = annotations.boxes_of(photo.content_hash, BOX_STATUSES)
            with annotations.batch("suggest boxes") as edit:
                for det in found:
                    corners = (
                        min(max(det.x1, 0.0), photo.width),
                        min(max(det.y1, 0.0), photo.height),
                        min(max(det.x2, 0.0), photo.width),
                        min(max(det.y2, 0.0), photo.height),
                    )
                    if _known(known, corners, det.label):
                        report.skipped_known += 1
                        continue
                    box = annotations.add_box_in(
                        edit,
                        photo,
                        (corners[0], corners[1], corners[2] - corners[0], corners[3] - corners[1]),
                        det.label,
                        source="detector",
                        score=float(det.conf),
                    )
                    known.append(box)
                    report.suggested += 1
        report.done += 1
        if progress is not None:
            progress(report, path)
    return report


def _known(known: list[Box], corners: tuple[float, float, float, float], label: str) -> bool:
    return any(b.label == label and _iou(b.corners, corners) >= SAME_BOX_IOU for b in known)
