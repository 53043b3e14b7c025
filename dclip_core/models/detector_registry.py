"""The detector registry and weights cache (torch-free): which YOLO is ``yolov8n``, and its file.

Detectors are named by :class:`DetectorSpec` s, like CLIP models: ``yolov8x`` (the paper's),
``yolov8n`` (the light default) and ``yolo-test-tiny`` (random init from ultralytics' yaml, for
tests); the shapes world registers the detector it trains. Weights are pinned by sha256 where
ultralytics publishes one, else pinned on first download (trust on first use). Building and
running a detector is :mod:`dclip_core.models.detector` (torch, ultralytics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dclip_core.config.paths import get_paths
from dclip_core.errors import DownloadError, UnknownModelError, WeightsMissingError
from dclip_core.models.download import download_file, sha256_file


@dataclass(frozen=True)
class DetectorWeights:
    """A downloadable weights file.

    ``sha256`` pins the content when it is known for sure. Ultralytics publishes no hashes, so our
    built-in specs leave it None and the first verified download (or the first file the user
    placed in the cache) is pinned in ``<file>.sha256`` beside it: trust on first use.
    """

    filename: str
    urls: tuple[str, ...]
    sha256: str | None = None


@dataclass(frozen=True)
class DetectorSpec:
    """A named detector.

    Attributes:
        architecture: ultralytics model yaml (``yolov8n.yaml``) used for random-init specs.
        weights: the pretrained file; None means random init from ``architecture`` with ``seed``.
        imgsz: square input size of the network (letterboxed).
        calibrate: for random init, set BatchNorm statistics from seeded synthetic images and
            scale the head so that scores spread over (0, 1) instead of all being equal — a
            detector that returns varied boxes is what tests need.
    """

    name: str
    description: str
    architecture: str
    weights: DetectorWeights | None = None
    seed: int = 0
    imgsz: int = 640
    calibrate: bool = False
    meaningless: bool = False


_REGISTRY: dict[str, DetectorSpec] = {}
_ASSETS = "https://github.com/ultralytics/assets/releases/download"


def register_detector(spec: DetectorSpec, *, replace: bool = False) -> DetectorSpec:
    """Add ``spec`` to the registry (tests may add their own)."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"detector {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_detector_spec(name: str) -> DetectorSpec:
    """Look a detector up by name; raises UnknownModelError listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise UnknownModelError(f"unknown detector {name!r}; known detectors: {known}") from None


def _ultralytics_weights(filename: str) -> DetectorWeights:
    return DetectorWeights(
        filename=filename,
        urls=(f"{_ASSETS}/v8.4.0/{filename}", f"{_ASSETS}/v0.0.0/{filename}"),
    )


register_detector(
    DetectorSpec(
        name="yolov8n",
        description="YOLOv8n, COCO-pretrained (light default; fast on a laptop CPU)",
        architecture="yolov8n.yaml",
        weights=_ultralytics_weights("yolov8n.pt"),
    )
)
register_detector(
    DetectorSpec(
        name="yolov8x",
        description="YOLOv8x, COCO-pretrained (the paper's detector; needs a GPU to be quick)",
        architecture="yolov8x.yaml",
        weights=_ultralytics_weights("yolov8x.pt"),
    )
)
register_detector(
    DetectorSpec(
        name="yolo-test-tiny",
        description="YOLOv8n architecture, random init (tests; boxes are meaningless)",
        architecture="yolov8n.yaml",
        seed=8,
        imgsz=160,
        calibrate=True,
        meaningless=True,
    )
)


def ensure_detector_weights(
    spec: DetectorSpec,
    *,
    download: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Return the verified weights file of ``spec`` in our cache, downloading it if allowed.

    Raises:
        WeightsMissingError: not cached and ``download`` is False, or the download failed.
        DownloadError: the cached file does not match its pinned sha256.
    """
    if spec.weights is None:
        raise ValueError(f"detector {spec.name} is random-init and has no weights file")
    dest = get_paths().weights_dir / spec.weights.filename
    pin = dest.with_name(dest.name + ".sha256")
    expected = spec.weights.sha256 or (pin.read_text().strip() if pin.is_file() else None)
    if not dest.is_file():
        if not download:
            raise WeightsMissingError(
                f"detector weights {spec.weights.filename} are not in {dest.parent}; "
                f"download them from {spec.weights.urls[0]} and put them there"
            )
        try:
            # expected is None when ultralytics publishes no hash and nothing was pinned yet: the
            # first complete download is pinned below (trust on first use).
            download_file(spec.weights.urls, dest, sha256=expected, progress=progress or False)
        except DownloadError as exc:
            raise WeightsMissingError(
                f"could not download {spec.weights.filename} ({exc}); with no network, copy it "
                f"from {spec.weights.urls[0]} into {dest.parent}"
            ) from exc
    actual = sha256_file(dest)
    if expected is None:
        pin.write_text(actual + "\n")  # trust on first use
    elif actual != expected:
        raise DownloadError(
            f"{dest} does not match its sha256 (expected {expected}, got {actual}); "
            f"delete it (and {pin.name}) to download it again"
        )
    return dest
