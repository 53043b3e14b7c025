"""Torch-free detection: boxes, the letterbox, and exported YOLO detectors run by ONNX Runtime.

A :class:`Detector` turns a PIL image into :class:`Box` es. Two implementations share the pre- and
post-processing here: the torch :class:`~dclip_core.models.detector.YoloDetector` (training, the
region cache) and :class:`OnnxDetector`, which runs the graph written by
:func:`dclip_core.export.detector_export.export_detector_onnx` (the explain runtime, the app). Both
letterbox the same way and map detections back with :func:`boxes_from_detections`, so they return
the same boxes (tested).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
from PIL import Image

from dclip_core.errors import BundleError

LETTERBOX_FILL = 114  # ultralytics' padding grey; pretrained YOLO weights expect it
METADATA_KEY = "dclip.detector"
DETECTOR_ONNX_FORMAT = 1


class Box(NamedTuple):
    """A detection in pixels of the image given to the detector."""

    x1: float
    y1: float
    x2: float
    y2: float
    conf: float
    label: str


class Detector(Protocol):
    """Anything that proposes boxes for an image."""

    name: str

    def detect(self, image: Image.Image) -> list[Box]: ...

    def detect_many(self, images: Sequence[Image.Image]) -> list[list[Box]]: ...


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square network input: ``input = image * scale + pad``."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int


def letterbox(image: Image.Image, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio and pad to ``size``x``size`` with grey.

    Returns:
        float32 array [3, size, size] in 0..1 (RGB), and the transform to undo on boxes.
    """
    rgb = image.convert("RGB")
    width, height = rgb.size
    scale = min(size / width, size / height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = Image.new("RGB", (size, size), (LETTERBOX_FILL,) * 3)
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas.paste(rgb.resize((new_w, new_h), Image.Resampling.BILINEAR), (pad_x, pad_y))
    array = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return np.ascontiguousarray(array), Letterbox(scale, pad_x, pad_y, width, height)


def boxes_from_detections(
    detections: np.ndarray, fit: Letterbox, class_names: Sequence[str]
) -> list[Box]:
    """Map network detections ``[N, 6]`` (x1, y1, x2, y2, score, class) back to image pixels."""
    boxes = []
    for x1, y1, x2, y2, score, cls in np.asarray(detections, dtype=np.float64):
        bx1, bx2 = (float(np.clip((x - fit.pad_x) / fit.scale, 0, fit.width)) for x in (x1, x2))
        by1, by2 = (float(np.clip((y - fit.pad_y) / fit.scale, 0, fit.height)) for y in (y1, y2))
        label = class_names[int(cls)] if 0 <= int(cls) < len(class_names) else str(int(cls))
        boxes.append(Box(bx1, by1, bx2, by2, float(score), label))
    return boxes


class OnnxDetector:
    """Runs an exported detector with ONNX Runtime (no torch); implements ``Detector``.

    Args:
        path: the ``.onnx`` file written by :func:`export_detector_onnx`.
        conf: score threshold; the exported default when None.
        providers: ONNX Runtime execution providers.
    """

    def __init__(
        self,
        path: Path,
        *,
        conf: float | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        import onnxruntime as ort
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        # ONNX Runtime's load errors do not share a base class beyond Exception
        load_errors = (
            ort_errors.Fail,
            ort_errors.InvalidArgument,
            ort_errors.InvalidGraph,
            ort_errors.InvalidProtobuf,
            ort_errors.NoSuchFile,
            ort_errors.RuntimeException,
        )
        try:
            self.session = ort.InferenceSession(str(path), providers=list(providers))
            meta = self.session.get_modelmeta().custom_metadata_map
            info: dict[str, Any] = json.loads(meta[METADATA_KEY])
        except (OSError, KeyError, ValueError, RuntimeError, *load_errors) as exc:
            raise BundleError(
                f"{path} is not a DCLIP detector export ({exc}); export it again"
            ) from exc
        self.name = str(info["name"])
        self.imgsz = int(info["imgsz"])
        self.class_names = [str(n) for n in info["class_names"]]
        self.conf = float(info["conf"] if conf is None else conf)

    def detect(self, image: Image.Image) -> list[Box]:
        array, fit = letterbox(image, self.imgsz)
        (detections,) = self.session.run(
            ["detections"],
            {"images": array[None], "conf_threshold": np.array(self.conf, dtype=np.float32)},
        )
        return boxes_from_detections(detections, fit, self.class_names)

    def detect_many(self, images: Sequence[Image.Image]) -> list[list[Box]]:
        return [self.detect(image) for image in images]
