"""The YOLO detector as one ONNX graph with NMS inside, for the visualizer's torch-free path.

:class:`~dclip_core.runtime.detector.OnnxDetector` runs what this module writes.

We trace our own :class:`~dclip_core.models.detector.YoloDetector` module (network + class-aware
NMS) rather than calling ultralytics' exporter: that exporter writes its output next to the
weights or into the working directory, and bakes the confidence threshold into the graph. Ours
takes the threshold as an input, and the torch detector runs the very same module, so both paths
return the same boxes (tested).

Graph contract (also stored as JSON in the model's ``dclip.detector`` metadata):

- input ``images``: float32 ``[1, 3, S, S]``, RGB in 0..1, the image letterboxed to S (aspect kept,
  centred, padded with grey 114) — :func:`dclip_core.runtime.detector.letterbox`;
- input ``conf_threshold``: float32 scalar, boxes scoring at or below it are dropped;
- output ``detections``: float32 ``[N, 6]`` = (x1, y1, x2, y2, score, class) in input pixels,
  best first, N <= max_det; undo the letterbox with ``boxes_from_detections``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from dclip_core.config.paths import atomic_write_bytes
from dclip_core.errors import ExportError
from dclip_core.models.detector import YoloDetector
from dclip_core.runtime.detector import DETECTOR_ONNX_FORMAT, LETTERBOX_FILL, METADATA_KEY


def export_detector_onnx(detector: YoloDetector, dest: Path, *, opset: int = 17) -> Path:
    """Write ``detector`` (network + NMS) to ``dest`` as ONNX, atomically.

    Args:
        detector: a detector from :func:`~dclip_core.models.detector.create_detector`.
        dest: the ``.onnx`` file to write (e.g. ``<bundle>/explain/detector.onnx``).
        opset: ONNX opset (NonMaxSuppression needs >= 11).

    Raises:
        ExportError: tracing or checking the graph failed.
    """
    import tempfile

    import onnx
    import torch

    module = copy.deepcopy(detector.module).cpu().eval()
    images = torch.zeros(1, 3, detector.imgsz, detector.imgsz)
    threshold = torch.tensor(detector.conf, dtype=torch.float32)
    try:
        with torch.no_grad(), tempfile.TemporaryDirectory(prefix="dclip-detector-") as tmp:
            traced = Path(tmp) / "detector.onnx"
            torch.onnx.export(
                module,
                (images, threshold),
                traced,
                input_names=["images", "conf_threshold"],
                output_names=["detections"],
                dynamic_axes={"detections": {0: "num_detections"}},
                opset_version=opset,
                # the TorchScript tracer exports NMS and data-dependent shapes reliably
                dynamo=False,
            )
            model = onnx.load(traced)
        info = {
            "format": DETECTOR_ONNX_FORMAT,
            "name": detector.name,
            "imgsz": detector.imgsz,
            "letterbox_fill": LETTERBOX_FILL,
            "conf": detector.conf,
            "iou": module.iou,
            "max_det": module.max_det,
            "class_names": detector.class_names,
        }
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(info)
        onnx.checker.check_model(model)
    except (RuntimeError, ValueError, onnx.checker.ValidationError) as exc:
        raise ExportError(f"exporting detector {detector.name} to {dest} failed: {exc}") from exc
    atomic_write_bytes(Path(dest), model.SerializeToString())
    return Path(dest)


