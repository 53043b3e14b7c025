"""Object detectors that propose the regions DCLIP's teacher attends to.

A :class:`~dclip_core.runtime.detector.Detector` turns a PIL image into boxes. The implementation
here is ultralytics YOLO, named by :class:`~dclip_core.models.detector_registry.DetectorSpec` s in
a registry like the CLIP one (:mod:`dclip_core.models.detector_registry`, torch-free, with the
weights cache). Ultralytics is only ever imported through :func:`import_ultralytics`, which
first points its settings at our folders and switches off its downloads, pip installs and
telemetry (see docs/adr/0005-ultralytics-offline.md).

Pre- and post-processing are ours, not ultralytics' predictor: a square letterbox, the network,
and class-aware NMS in :class:`YoloWithNms` — the same module the ONNX export traces, so the torch
and ONNX detectors return the same boxes. The torch-free half (boxes, letterbox, the ONNX detector)
lives in :mod:`dclip_core.runtime.detector`. This module imports torch only inside functions.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw

from dclip_core.config.paths import get_paths
from dclip_core.models.detector_registry import (
    DetectorSpec,
    DetectorWeights,
    ensure_detector_weights,
    get_detector_spec,
    register_detector,
)
from dclip_core.runtime.detector import Box, boxes_from_detections, letterbox

if TYPE_CHECKING:
    import torch

__all__ = [
    "DetectorSpec",
    "DetectorWeights",
    "YoloDetector",
    "create_detector",
    "get_detector_spec",
    "import_ultralytics",
    "register_detector",
]

CLASS_OFFSET = 4096.0  # shifts each class's boxes apart so one NMS call is class-aware


# --- keeping ultralytics offline and out of the working directory ---------------------------------

_OFFLINE_SETTINGS: dict[str, Any] = {
    "sync": False,
    "api_key": "",
    "clearml": False,
    "comet": False,
    "dvc": False,
    "mlflow": False,
    "raytune": False,
    "tensorboard": False,
    "wandb": False,
    "vscode_msg": False,
    "openvino_msg": False,
}


def import_ultralytics() -> ModuleType:
    """Import ultralytics configured so it never downloads, installs or writes outside our folders.

    Environment (read by ultralytics at import): ``YOLO_CONFIG_DIR`` -> our config folder (its
    settings.json goes there, not to ~/.config/Ultralytics), ``YOLO_OFFLINE=1`` (its online check
    answers False, which gates its update checks, pip AutoUpdate and analytics),
    ``YOLO_AUTOINSTALL=0`` (no pip install of missing requirements), ``YOLO_VERBOSE=0`` (stdout
    stays clean for ``--events jsonl``), ``ULTRALYTICS_SAFE_LOAD=1`` (.pt files are loaded with
    ``torch.load(weights_only=True)`` against ultralytics' allow-list, never unpickled freely).
    Then its settings: sync and every logger integration off, weights/runs/datasets folders
    inside our cache (by default they point into the current git checkout). Finally the global
    ``PIL.Image.open`` and ``torch.save`` it replaces at import are restored.
    """
    paths = get_paths()
    os.environ["YOLO_CONFIG_DIR"] = str(paths.ultralytics_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ["YOLO_VERBOSE"] = "0"
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    paths.ultralytics_dir.mkdir(parents=True, exist_ok=True)
    import torch
    import ultralytics
    from ultralytics.utils import SETTINGS, patches

    # Ultralytics monkey-patches two globals at import. Image.open would try to pip-install a HEIF
    # plugin whenever *any* code in the process meets an unreadable image; torch.save gains
    # retries. Neither is wanted outside ultralytics, so put the originals back.
    if Image.open is patches.image_open:
        Image.open = patches._image_open
    if torch.save is patches.torch_save:
        torch.save = patches._torch_save

    cache = paths.cache_dir / "ultralytics"
    wanted = {
        **_OFFLINE_SETTINGS,
        "weights_dir": str(paths.weights_dir),
        "runs_dir": str(cache / "runs"),
        "datasets_dir": str(cache / "datasets"),
    }
    if any(SETTINGS.get(k) != v for k, v in wanted.items()):
        SETTINGS.update(wanted)
    return ultralytics


# --- the torch detector --------------------------------------------------------------------------


def _yolo_with_nms_class() -> type:
    import torch
    import torchvision

    class YoloWithNms(torch.nn.Module):
        """A YOLO detection network followed by class-aware NMS, for one image.

        ``forward(images [1,3,S,S], conf_threshold [])`` -> ``[N, 6]`` rows of
        (x1, y1, x2, y2, score, class) in input pixels, best first, at most ``max_det``.
        """

        def __init__(self, net: torch.nn.Module, iou: float, max_det: int) -> None:
            super().__init__()
            self.net = net
            self.iou = iou
            self.max_det = max_det

        def forward(self, images: torch.Tensor, conf_threshold: torch.Tensor) -> torch.Tensor:
            preds = self.net(images)
            preds = preds[0] if isinstance(preds, (tuple, list)) else preds
            return self.select(preds[0], conf_threshold)

        def select(self, pred: torch.Tensor, conf_threshold: torch.Tensor) -> torch.Tensor:
            """NMS over one image's raw predictions ``[4 + classes, anchors]`` (xywh, scores)."""
            pred = pred.transpose(0, 1)
            scores, classes = pred[:, 4:].max(dim=1)
            keep = scores > conf_threshold
            xywh, scores, classes = pred[keep, :4], scores[keep], classes[keep]
            half = xywh[:, 2:] / 2
            boxes = torch.cat([xywh[:, :2] - half, xywh[:, :2] + half], dim=1)
            shifted = boxes + classes.unsqueeze(1).to(boxes.dtype) * CLASS_OFFSET
            kept = torchvision.ops.nms(shifted, scores, self.iou)[: self.max_det]
            return torch.cat(
                [
                    boxes[kept],
                    scores[kept].unsqueeze(1),
                    classes[kept].unsqueeze(1).to(boxes.dtype),
                ],
                dim=1,
            )

    return YoloWithNms


class YoloDetector:
    """Ultralytics YOLO with our letterbox and NMS; a runtime ``Detector``.

    Args:
        name: the spec name (part of the region cache key).
        module: a ``YoloWithNms`` wrapping the network.
        class_names: label of each class index.
        imgsz: square network input size.
        conf: minimum score of a box (the paper: 0.25).
    """

    def __init__(
        self,
        name: str,
        module: torch.nn.Module,
        class_names: Sequence[str],
        *,
        imgsz: int,
        conf: float = 0.25,
    ) -> None:
        self.name = name
        self.module: Any = module.eval()
        self.class_names = list(class_names)
        self.imgsz = imgsz
        self.conf = conf

    def detect(self, image: Image.Image) -> list[Box]:
        return self.detect_many([image])[0]

    def detect_many(self, images: Sequence[Image.Image]) -> list[list[Box]]:
        """Detect on several images in one network call (they share the square input size)."""
        import torch

        if not images:
            return []
        arrays, fits = zip(*(letterbox(im, self.imgsz) for im in images), strict=True)
        device = next(self.module.parameters()).device
        batch = torch.from_numpy(np.stack(arrays)).to(device)
        threshold = torch.tensor(self.conf, device=device)
        with torch.inference_mode():
            preds = self.module.net(batch)
            preds = preds[0] if isinstance(preds, (tuple, list)) else preds
            detections = [self.module.select(p, threshold).cpu().numpy() for p in preds]
        return [
            boxes_from_detections(d, fit, self.class_names)
            for d, fit in zip(detections, fits, strict=True)
        ]


def _calibration_images(count: int, size: int, seed: int) -> list[np.ndarray]:
    """Seeded synthetic photos (flat backgrounds with coloured shapes), 0..1 RGB [3,S,S]."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        colour = tuple(rng.randrange(256) for _ in range(3))
        image = Image.new("RGB", (size, size), colour)
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randrange(1, 5)):
            x1, y1 = rng.randrange(size), rng.randrange(size)
            x2, y2 = x1 + rng.randrange(8, size), y1 + rng.randrange(8, size)
            fill = tuple(rng.randrange(256) for _ in range(3))
            shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
            shape([x1, y1, x2, y2], fill=fill)
        out.append(np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0)
    return out


def _calibrate_random_init(net: torch.nn.Module, imgsz: int, seed: int) -> None:
    """Make a random-init YOLO produce spread-out scores and boxes of varied size.

    Fresh BatchNorm statistics (mean 0, var 1) make activations vanish and every score equal;
    statistics measured on a few synthetic images keep them alive. Their variance is floored at
    0.1 because a random deep net otherwise amplifies small input changes without bound. The last
    box/class convolutions are then scaled so their logits have unit / 1.5 spread on those
    images, with a class bias of -4 so only a few percent of anchors pass conf 0.25.
    """
    import torch

    calib = torch.from_numpy(np.stack(_calibration_images(16, imgsz, seed)))
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batch
    net.train()
    with torch.no_grad():
        net(calib)
    for bn in norms:
        bn.running_var.clamp_(min=0.1)  # type: ignore[union-attr]
    net.eval()
    head: Any = list(net.modules())[-1] if not hasattr(net, "model") else net.model[-1]  # type: ignore[index]
    outputs: dict[tuple[str, int], torch.Tensor] = {}
    hooks = []
    for i, (box_branch, cls_branch) in enumerate(zip(head.cv2, head.cv3, strict=True)):
        for kind, branch in (("box", box_branch), ("cls", cls_branch)):
            hooks.append(
                branch[-1].register_forward_hook(
                    lambda _m, _i, out, key=(kind, i): outputs.__setitem__(key, out)
                )
            )
    with torch.no_grad():
        net(calib)
        for hook in hooks:
            hook.remove()
        for i, (box_branch, cls_branch) in enumerate(zip(head.cv2, head.cv3, strict=True)):
            for kind, conv, spread, bias in (
                ("box", box_branch[-1], 1.0, 0.0),
                ("cls", cls_branch[-1], 1.5, -4.0),
            ):
                logits = outputs[(kind, i)] - conv.bias.view(1, -1, 1, 1)
                conv.weight.mul_(spread / logits.std().clamp(min=1e-6))
                conv.bias.fill_(bias)


def create_detector(
    name: str = "yolov8n",
    *,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    download: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
) -> YoloDetector:
    """Build a registered detector on the CPU, in eval mode.

    Args:
        name: a registered detector (``yolov8n``, ``yolov8x``, ``yolo-test-tiny``).
        conf: score threshold (ultralytics' and the paper's default 0.25).
        iou: NMS IoU threshold (ultralytics' default 0.7).
        max_det: most boxes per image (ultralytics' default 300; the paper keeps them all).
        download: fetch missing pretrained weights (else raise WeightsMissingError).
        progress: ``(bytes_done, bytes_total)`` callback of a download.
    """
    import torch

    spec = get_detector_spec(name)
    import_ultralytics()
    from ultralytics import YOLO

    if spec.weights is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            net: Any = YOLO(spec.architecture, task="detect", verbose=False).model
            if spec.calibrate:
                _calibrate_random_init(net, spec.imgsz, spec.seed)
        names = [f"class{i}" for i in range(len(net.names))]
    else:
        weights = ensure_detector_weights(spec, download=download, progress=progress)
        net = YOLO(str(weights), task="detect", verbose=False).model
        names = [str(net.names[i]) for i in range(len(net.names))]
    net = net.float().eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    module = _yolo_with_nms_class()(net, iou, max_det)
    return YoloDetector(spec.name, module, names, imgsz=spec.imgsz, conf=conf)
